"""Fixtures of the feedback tests: the Taipei clinic, its patients, and a case factory."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from clinic_crm import Case, ClinicCRM, Patient
from clinic_crm.models import Clinic
from tests.conftest import T0

TPE = ZoneInfo("Asia/Taipei")
#: Friday 2026-02-13 10:00 in Taipei, the last working day before Lunar New Year (02-16 … 02-20).
LNY_FRIDAY = datetime(2026, 2, 13, 10, 0, tzinfo=TPE)

CaseFactory = Callable[..., Case]


@pytest.fixture
def cid(clinic: Clinic) -> int:
    """The Taipei clinic's id."""
    assert clinic.id is not None
    return clinic.id


@pytest.fixture
def patient(crm: ClinicCRM, cid: int) -> Patient:
    """A patient of the Taipei clinic with a mobile number (SMS care consent by default)."""
    return crm.patients.register(cid, family_name="王", given_name="小明", phone="0912-345-678")


@pytest.fixture
def make_case(crm: ClinicCRM, cid: int) -> CaseFactory:
    """Record a case (a normal complaint by phone received at ``T0`` unless told otherwise)."""

    def make(**overrides: Any) -> Case:
        fields: dict[str, Any] = {"kind": "complaint", "channel": "phone", "text": "等太久了", "at": T0}
        fields.update(overrides)
        return crm.feedback.record(cid, **fields)

    return make
