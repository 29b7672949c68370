"""The clinic's calendar of working days through the facade, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from clinic_crm import ClinicCRM, NaiveDatetimeError, NotFound, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows

TAIPEI = ZoneInfo("Asia/Taipei")


def test_contract_example(crm: ClinicCRM, clinic: Clinic) -> None:
    start = datetime(2026, 2, 13, 10, 0, tzinfo=TAIPEI)
    due = crm.clinics.add_working_days(clinic.id, start, 2)
    assert due == datetime(2026, 2, 24, 10, 0, tzinfo=TAIPEI)
    assert due.tzinfo is UTC
    assert crm.clinics.add_working_days(clinic.id, start, 0) == start


def test_closures_and_extra_working_days(crm: ClinicCRM, clinic: Clinic) -> None:
    assert crm.clinics.is_working_day(clinic.id, date(2026, 3, 3))
    crm.clinics.add_closure(clinic.id, date(2026, 3, 3), reason="staff training", at=T0)
    assert not crm.clinics.is_working_day(clinic.id, date(2026, 3, 3))
    # Monday 09:00 + 1 working day skips the closed Tuesday
    assert crm.clinics.add_working_days(clinic.id, datetime(2026, 3, 2, 9, tzinfo=TAIPEI), 1) == datetime(
        2026, 3, 4, 9, tzinfo=TAIPEI
    )
    assert not crm.clinics.is_working_day(clinic.id, date(2026, 3, 7))  # Saturday
    crm.clinics.add_working_day(clinic.id, date(2026, 3, 7), reason="Saturday vaccination clinic", at=T0)
    assert crm.clinics.is_working_day(clinic.id, date(2026, 3, 7))
    assert crm.clinics.add_working_days(clinic.id, datetime(2026, 3, 6, 9, tzinfo=TAIPEI), 1) == datetime(
        2026, 3, 7, 9, tzinfo=TAIPEI
    )


def test_the_later_record_of_a_day_wins(crm: ClinicCRM, clinic: Clinic) -> None:
    day = date(2026, 2, 16)  # a public holiday in Taiwan
    assert not crm.clinics.is_working_day(clinic.id, day)
    crm.clinics.add_working_day(clinic.id, day, reason="open over the holiday", at=T0)
    assert crm.clinics.is_working_day(clinic.id, day)
    crm.clinics.add_closure(clinic.id, day, reason="changed our minds", at=T0)
    assert not crm.clinics.is_working_day(clinic.id, day)
    crm.clinics.add_working_day(clinic.id, day, reason="open after all", at=T0)
    assert crm.clinics.is_working_day(clinic.id, day)


def test_a_closure_of_another_clinic_does_not_count(crm: ClinicCRM, clinic: Clinic) -> None:
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    crm.clinics.add_closure(other.id, date(2026, 3, 3), reason="flood", at=T0)
    assert crm.clinics.is_working_day(clinic.id, date(2026, 3, 3))


def test_bad_input_is_typed_and_writes_nothing(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(ValidationError) as info:
        crm.clinics.add_closure(clinic.id, datetime(2026, 3, 3, tzinfo=UTC), reason="x")  # type: ignore[arg-type]
    assert info.value.field == "day"
    with pytest.raises(ValidationError) as info:
        crm.clinics.add_closure(clinic.id, date(2026, 3, 3), reason="  ")
    assert info.value.field == "reason"
    with pytest.raises(NotFound):
        crm.clinics.add_working_day(clinic.id + 1000, date(2026, 3, 3), reason="x")
    with pytest.raises(ValidationError) as info:
        crm.clinics.add_working_days(clinic.id, T0, -1)
    assert info.value.field == "days"
    with pytest.raises(NaiveDatetimeError):
        crm.clinics.add_working_days(clinic.id, datetime(2026, 3, 2, 9), 1)
    with pytest.raises(ValidationError):
        crm.clinics.is_working_day(clinic.id, "2026-03-03")  # type: ignore[arg-type]
    assert count_rows(crm, "clinic_day") == 0


def test_follow_ups_use_the_clinic_calendar(crm: ClinicCRM, clinic: Clinic) -> None:
    """A detractor answering on Friday 2026-02-13 is called back after Lunar New Year, not in it."""
    from clinic_crm import Question

    patient = crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912-345-678")
    visit = crm.visits.book(patient.id, starts_at=datetime(2026, 2, 13, 1, tzinfo=UTC), kind="checkup")
    crm.visits.check_in(visit.id, at=datetime(2026, 2, 13, 1, tzinfo=UTC))
    crm.visits.complete(visit.id, at=datetime(2026, 2, 13, 1, 30, tzinfo=UTC))
    survey = crm.surveys.create(clinic.id, name="after visit", questions=[Question("q1", "nps", "How likely…")])
    invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=datetime(2026, 2, 13, 1, 45, tzinfo=UTC))
    answered = datetime(2026, 2, 13, 10, 0, tzinfo=TAIPEI)
    crm.surveys.submit(invitation.token, {"q1": 3}, at=answered)
    [follow_up] = crm.surveys.follow_ups(clinic.id, now=answered)
    assert follow_up.due_at == datetime(2026, 2, 24, 10, 0, tzinfo=TAIPEI)
