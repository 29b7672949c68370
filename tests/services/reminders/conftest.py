"""Fixtures of the reminder tests: a recording sender and patients of the Taipei clinic."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clinic_crm import ClinicCRM, testing
from clinic_crm.models import Clinic, Patient
from clinic_crm.testing import RecordingSender

MOBILE = "+886912345678"
MOBILE_2 = "+886922333444"
FIXED_LINE = "+886223456789"  # Taipei land line: phonenumbers says FIXED_LINE


@pytest.fixture
def sender() -> RecordingSender:
    """A sender that records every message."""
    return RecordingSender()


@pytest.fixture
def make_patient(crm: ClinicCRM, clinic: Clinic) -> Callable[..., Patient]:
    """Register a patient of the clinic (王小明, mobile, e-mail) with overrides."""

    def make(**overrides: Any) -> Patient:
        clinic_id = overrides.pop("clinic_id", clinic.id)
        fields: dict[str, Any] = {
            "family_name": "王",
            "given_name": "小明",
            "phone": MOBILE,
            "email": "ming@example.com",
        }
        return testing.make_patient(crm, clinic_id, **{**fields, **overrides})

    return make


@pytest.fixture
def patient(make_patient: Callable[..., Patient]) -> Patient:
    """A zh_TW patient in Asia/Taipei with a mobile number and an e-mail address."""
    return make_patient()
