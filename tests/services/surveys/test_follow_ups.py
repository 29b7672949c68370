"""Follow-ups: opened by detractors and low ratings, due two working days later in clinic time, closed once."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm import ClinicCRM, Conflict, NaiveDatetimeError, NotFound, ValidationError, localtime
from clinic_crm.models import Clinic, Survey
from tests.conftest import T0, count_rows
from tests.services.surveys.conftest import VisitFactory

TAIPEI = ZoneInfo("Asia/Taipei")


def _answer(
    crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory, answers: dict[str, object], at: datetime
) -> int:
    visit = completed_visit(at - timedelta(hours=2))
    assert survey.id is not None and visit.id is not None
    inv = crm.surveys.invite(survey.id, visit_id=visit.id, at=at - timedelta(hours=1))
    response = crm.surveys.submit(inv.token, answers, at=at)
    assert response.id is not None
    return response.id


MON_FRI = localtime.WorkingCalendar(region="ZZ")  # a region without holidays: Monday–Friday


def add_working_days(instant: datetime, days: int, zone: str) -> datetime:
    return localtime.add_working_days(instant, days, timezone=zone, calendar=MON_FRI)


@pytest.mark.parametrize(
    ("answers", "reason"),
    [
        ({"recommend": 0, "overall": 5}, "detractor"),
        ({"recommend": 6, "overall": 3}, "detractor"),
        ({"recommend": 9, "overall": 2}, "low_rating"),
        ({"recommend": 10, "overall": 1}, "low_rating"),
        ({"recommend": 4, "overall": 1}, "detractor,low_rating"),
        ({"recommend": 7, "overall": 3}, None),
        ({"recommend": 8, "overall": 3}, None),
        ({"recommend": 9, "overall": 5}, None),
    ],
)
def test_which_responses_open_a_follow_up(
    crm: ClinicCRM,
    survey: Survey,
    sclinic: Clinic,
    completed_visit: VisitFactory,
    answers: dict[str, object],
    reason: str | None,
) -> None:
    assert sclinic.id is not None
    response_id = _answer(crm, survey, completed_visit, answers, T0)
    items = crm.surveys.follow_ups(sclinic.id, now=T0)
    if reason is None:
        assert items == [] and count_rows(crm, "follow_up") == 0
    else:
        assert len(items) == 1 and count_rows(crm, "follow_up") == 1
        (item,) = items
        assert item.reason == reason and item.response_id == response_id and item.clinic_id == sclinic.id
        assert item.opened_at == T0 and item.closed_at is None
        assert not hasattr(item, "family_name") and not hasattr(item, "phone")


def test_friday_answer_is_due_on_tuesday_same_local_time(
    crm: ClinicCRM, survey: Survey, sclinic: Clinic, completed_visit: VisitFactory
) -> None:
    assert sclinic.id is not None
    friday = datetime(2026, 3, 6, 17, 45, tzinfo=TAIPEI)
    _answer(crm, survey, completed_visit, {"recommend": 2, "overall": 4}, friday)
    (item,) = crm.surveys.follow_ups(sclinic.id)
    assert item.due_at == datetime(2026, 3, 10, 17, 45, tzinfo=TAIPEI)
    assert item.due_at.tzinfo is not None and item.due_at.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    ("local", "zone", "expected_local"),
    [
        ("2026-03-02 09:00", "Asia/Taipei", "2026-03-04 09:00"),  # Monday → Wednesday
        ("2026-03-05 23:59", "Asia/Taipei", "2026-03-09 23:59"),  # Thursday → Monday
        ("2026-03-07 10:00", "Asia/Taipei", "2026-03-10 10:00"),  # Saturday → Tuesday
        ("2026-03-08 10:00", "Asia/Taipei", "2026-03-10 10:00"),  # Sunday → Tuesday
        ("2026-03-06 02:30", "America/New_York", "2026-03-10 02:30"),  # across the spring DST change
        ("2026-10-23 01:30", "Europe/London", "2026-10-27 01:30"),  # across the autumn change (25 Oct)
    ],
)
def test_due_dates(local: str, zone: str, expected_local: str) -> None:
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(local).replace(tzinfo=tz)
    due = add_working_days(start, 2, zone)
    assert due == datetime.fromisoformat(expected_local).replace(tzinfo=tz)
    assert due.tzinfo is UTC


def test_non_existent_local_time_moves_forward_by_the_gap() -> None:
    # Cairo springs forward on Friday 2024-04-26 at 00:00 → 01:00: 00:30 does not exist that day
    start = datetime(2024, 4, 24, 0, 30, tzinfo=ZoneInfo("Africa/Cairo"))
    due = add_working_days(start, 2, "Africa/Cairo")
    assert due.astimezone(ZoneInfo("Africa/Cairo")).replace(tzinfo=None) == datetime(2024, 4, 26, 1, 30)


def test_ambiguous_local_time_takes_the_first_occurrence() -> None:
    # Cairo falls back on Thursday 2024-10-31 at 24:00 → 23:00: 23:30 happens twice
    start = datetime(2024, 10, 29, 23, 30, tzinfo=ZoneInfo("Africa/Cairo"))
    due = add_working_days(start, 2, "Africa/Cairo")
    assert due == datetime(2024, 10, 31, 20, 30, tzinfo=UTC)  # 23:30 at UTC+3, the first one


def test_add_working_days_rejects_bad_input() -> None:
    with pytest.raises(NaiveDatetimeError):
        add_working_days(datetime(2026, 3, 2, 9), 2, "Asia/Taipei")
    with pytest.raises(ValidationError):
        add_working_days(T0, -1, "Asia/Taipei")
    assert add_working_days(T0, 0, "Asia/Taipei") == T0


ZONES = [
    "Asia/Taipei",
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Australia/Sydney",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Pacific/Chatham",
    "Asia/Kathmandu",
    "America/St_Johns",
    "Africa/Cairo",
    "America/Sao_Paulo",
    "Pacific/Auckland",
    "UTC",
    "America/Los_Angeles",
    "Asia/Tehran",
]


def _exists(wall: datetime, tz: ZoneInfo) -> bool:
    aware = wall.replace(tzinfo=tz, fold=0)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


@given(
    instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2037, 12, 31), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
)
def test_due_is_exactly_two_working_days_later_local(instant: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    local = instant.astimezone(tz)
    due = add_working_days(instant, 2, zone)
    due_local = due.astimezone(tz)
    assert due > instant
    # the target date is a working day, and exactly two working days lie in (answer date, target date]
    target = datetime.combine(_second_working_day(local.date()), local.time().replace(fold=0))
    assert target.weekday() < 5
    assert int(np.busday_count(local.date() + timedelta(days=1), target.date() + timedelta(days=1))) == 2
    if _exists(target, tz):
        # same local wall time; of two occurrences, the first
        assert due_local.replace(tzinfo=None) == target
        assert due == min(target.replace(tzinfo=tz, fold=0), target.replace(tzinfo=tz, fold=1)).astimezone(UTC)
    else:
        # in a spring-forward gap: moved forward by the gap, never more than 3 hours
        assert target < due_local.replace(tzinfo=None) <= target + timedelta(hours=3)


def _second_working_day(day: date) -> date:
    """The second Monday–Friday strictly after ``day`` (numpy's business-day calendar as the oracle)."""
    return np.busday_offset(np.datetime64(day + timedelta(days=1)), 1, roll="forward").astype(date)  # type: ignore[no-any-return]


def test_follow_ups_list_open_ones_by_due_date_and_overdue(
    crm: ClinicCRM, survey: Survey, sclinic: Clinic, completed_visit: VisitFactory
) -> None:
    assert sclinic.id is not None
    wed = datetime(2026, 3, 4, 10, 0, tzinfo=TAIPEI)  # due Friday 10:00
    mon = datetime(2026, 3, 2, 10, 0, tzinfo=TAIPEI)  # due Wednesday 10:00
    _answer(crm, survey, completed_visit, {"recommend": 1, "overall": 3}, wed)
    _answer(crm, survey, completed_visit, {"recommend": 9, "overall": 1}, mon)
    _answer(crm, survey, completed_visit, {"recommend": 10, "overall": 5}, mon)  # promoter: none
    items = crm.surveys.follow_ups(sclinic.id)
    assert [i.due_at for i in items] == [
        datetime(2026, 3, 4, 10, tzinfo=TAIPEI),
        datetime(2026, 3, 6, 10, tzinfo=TAIPEI),
    ]
    thursday = datetime(2026, 3, 5, 12, tzinfo=TAIPEI)
    overdue = crm.surveys.follow_ups(sclinic.id, overdue=True, now=thursday)
    assert [i.id for i in overdue] == [items[0].id]
    # exactly at the due time it is not overdue yet
    assert crm.surveys.follow_ups(sclinic.id, overdue=True, now=items[0].due_at) == []
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    assert other.id is not None
    assert crm.surveys.follow_ups(other.id) == []
    with pytest.raises(NotFound):
        crm.surveys.follow_ups(other.id + 10)
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.follow_ups(sclinic.id, overdue=True, now=datetime(2026, 3, 5))


def test_close_follow_up_once(crm: ClinicCRM, survey: Survey, sclinic: Clinic, completed_visit: VisitFactory) -> None:
    assert sclinic.id is not None
    _answer(crm, survey, completed_visit, {"recommend": 3, "overall": 2}, T0)
    (item,) = crm.surveys.follow_ups(sclinic.id)
    assert item.id is not None
    for bad in ("", "   ", "x" * 4001, None):
        with pytest.raises(ValidationError) as info:
            crm.surveys.close_follow_up(item.id, note=bad, at=T0 + timedelta(days=1))  # type: ignore[arg-type]
        assert info.value.field == "note"
    with pytest.raises(ValidationError) as info:
        crm.surveys.close_follow_up(item.id, note="called", at=T0 - timedelta(hours=1))
    assert info.value.field == "at"
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.close_follow_up(item.id, note="called", at=datetime(2026, 3, 3))
    assert crm.surveys.follow_ups(sclinic.id) != []  # still open after the rejected calls

    closed = crm.surveys.close_follow_up(item.id, note="Called back; rebooked with Dr. Lin", at=T0 + timedelta(days=1))
    assert closed.closed_at == T0 + timedelta(days=1) and closed.note == "Called back; rebooked with Dr. Lin"
    assert crm.surveys.follow_ups(sclinic.id) == []
    with pytest.raises(Conflict):
        crm.surveys.close_follow_up(item.id, note="again", at=T0 + timedelta(days=2))
    with pytest.raises(NotFound):
        crm.surveys.close_follow_up(item.id + 1, note="x", at=T0 + timedelta(days=2))
    with crm.engine.connect() as conn:
        note = conn.exec_driver_sql("SELECT note FROM follow_up").scalar_one()
    assert note == "Called back; rebooked with Dr. Lin"
