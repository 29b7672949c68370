"""Fixtures of the patient-rights tests: a clinic with surveys, a patient factory, a visit with a survey answer."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from clinic_crm import ClinicCRM, Patient, Question, Response, Visit, testing
from clinic_crm.models import Clinic, Survey
from tests.conftest import T0

QUESTIONS = [
    Question("recommend", "nps", "Would you recommend us?"),
    Question("overall", "rating", "How was your visit?"),
    Question("comment", "text", "Anything else?", required=False),
]

PatientFactory = Callable[..., Patient]
VisitFactory = Callable[..., Visit]
AnswerFactory = Callable[..., Response]


@pytest.fixture
def rclinic(crm: ClinicCRM, clinic: Clinic) -> Clinic:
    """The Taipei clinic with a survey link template."""
    assert clinic.id is not None
    return crm.clinics.update(clinic.id, survey_url_template="https://survey.example/s/{token}")


@pytest.fixture
def make_patient(crm: ClinicCRM, rclinic: Clinic) -> PatientFactory:
    """Register a patient of the clinic (defaults: 王小明, a mobile, no e-mail)."""
    counter = iter(range(1, 10_000))

    def make(**fields: Any) -> Patient:
        n = next(counter)
        values: dict[str, Any] = {
            "family_name": "王",
            "given_name": "小明",
            "phone": f"0912-345-{n:03d}",
            "email": None,
        }
        return testing.make_patient(crm, rclinic.id, **{**values, **fields})

    return make


@pytest.fixture
def completed_visit(crm: ClinicCRM) -> VisitFactory:
    """Book, check in and complete a visit of a patient at ``done``."""

    def make(patient_id: int, done: datetime = T0) -> Visit:
        return testing.complete_visit(crm, patient_id, done)

    return make


@pytest.fixture
def survey(crm: ClinicCRM, rclinic: Clinic) -> Survey:
    """An NPS + rating + comment survey."""
    assert rclinic.id is not None
    return crm.surveys.create(rclinic.id, name="After your visit", questions=QUESTIONS)


@pytest.fixture
def answered(crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory) -> AnswerFactory:
    """A completed visit of the patient with a submitted survey response."""

    def make(patient_id: int, *, score: int = 9, done: datetime = T0) -> Response:
        visit = completed_visit(patient_id, done)
        assert visit.id is not None and survey.id is not None
        invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=done + timedelta(hours=1))
        return crm.surveys.submit(
            invitation.token, {"recommend": score, "overall": 4, "comment": "fine"}, at=done + timedelta(hours=2)
        )

    return make
