"""Fixtures of the crisis tests: a prepared clinic (team, lawyer), a declared incident, a staff statement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clinic_crm import ClinicCRM, Incident, Statement
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingPublisher
from tests.conftest import T0

LEAD_PHONE = "0912-345-678"


@pytest.fixture
def team_clinic(crm: ClinicCRM, clinic: Clinic) -> Clinic:
    """The Taipei clinic with a lead, a spokesperson and a legal member."""
    assert clinic.id is not None
    crm.crisis.set_member(clinic.id, role="lead", name="Dr. Chen", phone=LEAD_PHONE, email="Chen@Example.com")
    crm.crisis.set_member(clinic.id, role="spokesperson", name="Amy Lin", phone="0922-333-444")
    crm.crisis.set_member(clinic.id, role="legal", name="Mr. Wu")
    return clinic


@pytest.fixture
def publisher() -> RecordingPublisher:
    """A publisher that records every post."""
    return RecordingPublisher()


IncidentFactory = Callable[..., Incident]


@pytest.fixture
def declare(crm: ClinicCRM, team_clinic: Clinic) -> IncidentFactory:
    """Declare an incident of the prepared clinic at ``T0`` (keyword overrides)."""

    def make(**overrides: Any) -> Incident:
        fields: dict[str, Any] = {
            "title": "Leaked appointment list",
            "crisis_type": "data_breach",
            "at": T0,
            "by": "Dr. Chen",
        }
        fields.update(overrides)
        return crm.incidents.declare(team_clinic.id, **fields)  # type: ignore[arg-type]

    return make


StatementFactory = Callable[..., Statement]


@pytest.fixture
def published(crm: ClinicCRM) -> StatementFactory:
    """Draft, approve (lead) and publish a statement of an incident; returns the published version."""

    def make(
        incident_id: int, audience: str = "staff", *, text: Any = "We are on it.", at: Any = T0, **kw: Any
    ) -> Statement:
        statement = crm.incidents.draft(incident_id, audience=audience, text=text, at=at, by="Amy Lin")
        assert statement.id is not None
        crm.incidents.approve(statement.id, role="lead", by="Dr. Chen", at=at)
        return crm.incidents.publish(statement.id, at=at, **kw)

    return make
