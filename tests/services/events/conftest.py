"""Fixtures of the event tests: an event factory and patients of the Taipei clinic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from itertools import count
from typing import Any

import pytest

from clinic_crm import ClinicCRM, Event, testing
from clinic_crm.models import Clinic, Patient
from clinic_crm.testing import RecordingSender
from tests.conftest import T0

#: The events start a week after T0 (a Monday), at 17:00 in Taipei, for two hours.
STARTS = T0 + timedelta(days=7)
ENDS = STARTS + timedelta(hours=2)
TITLE = {"en": "Living well with diabetes", "zh_TW": "糖尿病衛教講座"}

EventFactory = Callable[..., Event]
PatientFactory = Callable[..., Patient]


@pytest.fixture
def sender() -> RecordingSender:
    """A sender that records every message."""
    return RecordingSender()


@pytest.fixture
def make_event(crm: ClinicCRM, clinic: Clinic) -> EventFactory:
    """Create an event of the clinic (a health talk next Monday, capacity 10) with overrides."""

    def make(**overrides: Any) -> Event:
        fields: dict[str, Any] = {
            "title": TITLE,
            "kind": "health_talk",
            "starts_at": STARTS,
            "ends_at": ENDS,
            "location": "3F classroom",
            "capacity": 10,
            "now": T0,
        }
        fields.update(overrides)
        clinic_id = fields.pop("clinic_id", clinic.id)
        return crm.events.create(clinic_id, **fields)

    return make


@pytest.fixture
def make_patient(crm: ClinicCRM, clinic: Clinic) -> PatientFactory:
    """Register a patient of the clinic (a distinct mobile number and e-mail each) with overrides."""
    numbers = count(1)

    def make(**overrides: Any) -> Patient:
        n = next(numbers)
        clinic_id = overrides.pop("clinic_id", clinic.id)
        fields: dict[str, Any] = {
            "family_name": "王",
            "given_name": f"小明{n}",
            "phone": f"+8869123{n:05d}",
            "email": f"patient{n}@example.com",
        }
        return testing.make_patient(crm, clinic_id, **{**fields, **overrides})

    return make
