"""Fixtures of the survey tests: a clinic with a survey link template, patients and completed visits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from clinic_crm import ClinicCRM, Question, testing
from clinic_crm.models import Clinic, Survey, Visit
from tests.conftest import T0

URL_TEMPLATE = "https://survey.example/s/{token}"

QUESTIONS = [
    Question("recommend", "nps", {"en": "Would you recommend us?", "zh_TW": "您會推薦我們嗎？"}),
    Question("overall", "rating", {"en": "Overall, how was your visit?", "zh_TW": "整體滿意度？"}),
    Question("again", "choice", "Would you come again?", options=["yes", "no", "maybe"], required=False),
    Question("comment", "text", "Anything else?", required=False),
]


@pytest.fixture
def sclinic(crm: ClinicCRM, clinic: Clinic) -> Clinic:
    """The Taipei clinic, configured with a survey URL template and a 3-hour delay."""
    assert clinic.id is not None
    return crm.clinics.update(clinic.id, survey_url_template=URL_TEMPLATE, survey_delay_minutes=180)


VisitFactory = Callable[..., Visit]


@pytest.fixture
def completed_visit(crm: ClinicCRM, sclinic: Clinic) -> VisitFactory:
    """Make a patient (unless given) and a visit completed at ``done`` (default ``T0``)."""
    counter = iter(range(1, 10_000))

    def make(done: datetime = T0, *, patient_id: int | None = None, clinic_id: int | None = None) -> Visit:
        n = next(counter)
        if patient_id is None:
            patient = crm.patients.register(
                clinic_id if clinic_id is not None else sclinic.id,  # type: ignore[arg-type]
                family_name="陳",
                given_name=f"測試{n}",
                phone=f"0912-{n:03d}-{n:03d}",
            )
            patient_id = patient.id
        assert patient_id is not None
        return testing.complete_visit(crm, patient_id, done)

    return make


@pytest.fixture
def survey(crm: ClinicCRM, sclinic: Clinic) -> Survey:
    """A survey with one question of each type (nps and rating required)."""
    assert sclinic.id is not None
    return crm.surveys.create(sclinic.id, name="After your visit", questions=QUESTIONS)
