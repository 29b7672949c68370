"""Recalls with a text interval are planned in SQL: the database's due time equals ``recall_due`` exactly.

The property compares the SQL of :func:`~clinic_crm.services.reminders.recall_sets.due_columns` with
:func:`~clinic_crm.services.reminders.recalls.recall_due` (``relativedelta`` on ``zoneinfo`` wall clocks) for
random anchors, intervals and zones, with anchors aimed at month ends and at the wall times of DST gaps and folds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import ColumnElement, literal, literal_column, select, type_coerce
from sqlalchemy.orm import Session

from clinic_crm import ClinicCRM
from clinic_crm.models import Clinic, Patient
from clinic_crm.models._base import UTCDateTime
from clinic_crm.services.reminders.recall_sets import due_columns
from clinic_crm.services.reminders.recalls import recall_due
from clinic_crm.services.reminders.rows import bound
from clinic_crm.services.reminders.zone_offsets import EARLIEST, transitions
from clinic_crm.testing import strategies

TRICKY_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST
    "Europe/Dublin",  # negative DST in the IANA data
    "Africa/Casablanca",  # DST suspended every Ramadan
    "America/Sao_Paulo",  # DST until 2019
    "Pacific/Apia",  # skipped 30 December 2011
    "Asia/Kathmandu",  # +05:45
    "Antarctica/Troll",  # +00 / +02
    "Asia/Taipei",
]
UNITS = {"day": 3653, "week": 522, "month": 120, "year": 10}


@cache
def changes(tz: str) -> list[datetime]:
    """Offset changes of ``tz`` from 1990 on, by brute force at the quarter hour around each day's sample."""
    zone, found = ZoneInfo(tz), []
    probe = datetime(1990, 1, 1, tzinfo=UTC)
    last = probe.astimezone(zone).utcoffset()
    while probe < datetime(2031, 1, 1, tzinfo=UTC):
        probe += timedelta(hours=6)
        offset = probe.astimezone(zone).utcoffset()
        if offset != last:
            step = probe - timedelta(hours=6)
            while step.astimezone(zone).utcoffset() == last:
                step += timedelta(minutes=15)
            found.append(step)
            last = offset
    return found


@st.composite
def cases(draw: st.DrawFn, first: datetime = EARLIEST) -> tuple[str, datetime, str]:
    """(zone, anchor, every): any zone and instant from ``first`` on, or an anchor whose recall lands near a DST
    change."""
    unit = draw(st.sampled_from(sorted(UNITS)))
    count = draw(st.integers(1, min(UNITS[unit], 30)) | st.integers(1, UNITS[unit]))
    every = f"{count} {unit}{'s' if count > 1 else ''}"
    micro = draw(st.sampled_from([0, 999_999]) | st.integers(0, 999_999))
    if draw(st.booleans()):
        tz = draw(st.sampled_from(TRICKY_ZONES))
        found = changes(tz)
        if found:
            target = draw(st.sampled_from(found)) + timedelta(minutes=draw(st.integers(-26 * 60, 26 * 60)))
            zone = ZoneInfo(tz)
            wall = target.astimezone(zone).replace(tzinfo=None) - relativedelta(**{f"{unit}s": count})  # type: ignore[arg-type]
            fold = draw(st.integers(0, 1))
            anchor = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC).replace(microsecond=micro)
            return tz, anchor, every
    else:
        tz = draw(strategies().timezones | st.sampled_from(TRICKY_ZONES))
    day = draw(st.integers(0, (datetime(2036, 1, 1, tzinfo=UTC) - first).days))
    seconds = draw(st.sampled_from([0, 86_399]) | st.integers(0, 86_399))
    anchor = first + timedelta(days=day, seconds=seconds, microseconds=micro)
    return tz, anchor, every


def sql_due(crm: ClinicCRM, tz: str, anchor: datetime, every: str) -> tuple[datetime, int]:
    """The due instant and plan-key epoch the database computes for one anchor."""
    months, days = _step(every)
    until = anchor + timedelta(days=3700)  # past every due time of a ten-year interval
    with Session(crm.engine) as session:
        dialect = session.get_bind().dialect.name
        anchors = select(
            bound(anchor, UTCDateTime(), dialect).label("done"),
            literal(tz).label("timezone"),
            literal_column(str(months)).label("months"),
            literal_column(str(days)).label("days"),
        ).cte("anchor", nesting=True)
        walls, due, epoch = due_columns(dialect, anchors, [tz], until)
        row = session.execute(select(_instant(due), epoch).select_from(walls)).one()
    return row[0], int(row[1])


def _instant(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return type_coerce(value, UTCDateTime())


def _step(every: str) -> tuple[int, int]:
    count, unit = every.split()
    n = int(count)
    return {"day": (0, n), "week": (0, 7 * n), "month": (n, 0), "year": (12 * n, 0)}[unit.rstrip("s")]


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases())
@example(("Europe/Berlin", datetime(2026, 1, 31, 9, 0, 0, 999_999, tzinfo=UTC), "1 month"))  # 28 February
@example(("Europe/Berlin", datetime(2024, 2, 29, 12, tzinfo=UTC), "1 year"))  # 28 February 2025
@example(("America/New_York", datetime(2026, 2, 8, 7, 30, tzinfo=UTC), "4 weeks"))  # 02:30 in the March gap
@example(("America/New_York", datetime(2026, 10, 4, 5, 30, tzinfo=UTC), "4 weeks"))  # 01:30 twice in November
@example(("Pacific/Apia", datetime(2011, 12, 29, 10, tzinfo=UTC), "1 day"))  # 30 December 2011 never happened
def test_sql_due_time_equals_recall_due(crm: ClinicCRM, case: tuple[str, datetime, str]) -> None:
    tz, anchor, every = case
    expected = recall_due(every, anchor, tz, datetime(9000, 1, 1, tzinfo=UTC))
    assert expected is not None
    due, epoch = sql_due(crm, tz, anchor, every)
    assert (due, epoch) == (expected, int(expected.timestamp()))


def test_zone_transitions_match_zoneinfo_on_both_sides_of_each_change() -> None:
    for tz in TRICKY_ZONES:
        zone = ZoneInfo(tz)
        first, found = transitions(tz, 2031)
        assert EARLIEST.astimezone(zone).utcoffset() == timedelta(seconds=first)
        for at, offset in found:
            before = datetime.fromtimestamp(at - 1, zone).utcoffset()
            assert datetime.fromtimestamp(at, zone).utcoffset() == timedelta(seconds=offset) != before
    assert transitions("Asia/Kathmandu", 2031)[1][-1] == (
        int(datetime(1985, 12, 31, 18, 30, tzinfo=UTC).timestamp()),
        20700,
    )


def _complete(crm: ClinicCRM, patient: Patient, at: datetime, kind: str = "cleaning") -> None:
    visit = crm.visits.book(patient.id, starts_at=at, kind=kind)
    crm.visits.check_in(visit.id, at=at)
    crm.visits.complete(visit.id, at=at)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cases(first=datetime(1901, 1, 1, tzinfo=UTC)))  # before 1970: the Python batches
def test_plan_makes_the_recall_recall_due_gives(
    crm: ClinicCRM, clinic: Clinic, case: tuple[str, datetime, str]
) -> None:
    tz, anchor, every = case
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Yu", phone="+886912345678", timezone=tz)
    plan = crm.reminders.add_recall(patient.id, kind="dental_recall", every=every, after_visit_kind="cleaning")
    _complete(crm, patient, anchor)
    due = recall_due(every, anchor, tz, datetime(9000, 1, 1, tzinfo=UTC))
    assert due is not None
    now = max(anchor, due - timedelta(days=5))
    assert crm.reminders.plan(now=now, horizon=timedelta(days=10)) >= 1
    planned = [r for r in crm.reminders.list(patient_id=patient.id, limit=10) if r.care_plan_id == plan.id]
    assert [(r.due_at, r.plan_key, r.status) for r in planned] == [
        (due, f"recall:{plan.id}:{int(due.timestamp())}", "pending")
    ]
    assert crm.reminders.plan(now=now, horizon=timedelta(days=10)) == 0


def test_text_and_rrule_plans_side_by_side_and_anchors_before_1970(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(
        clinic.id, family_name="Lin", given_name="Yu", phone="+886912345678", timezone="America/New_York"
    )
    text_plan = crm.reminders.add_recall(patient.id, kind="dental_recall", every="6 months", after_visit_kind="a")
    rule_plan = crm.reminders.add_recall(
        patient.id, kind="eye_recall", every="FREQ=MONTHLY;INTERVAL=6", after_visit_kind="b"
    )
    old_plan = crm.reminders.add_recall(patient.id, kind="old_recall", every="1 year", after_visit_kind="c")
    _complete(crm, patient, datetime(2025, 9, 1, 14, tzinfo=UTC), kind="a")
    _complete(crm, patient, datetime(2025, 9, 1, 14, tzinfo=UTC), kind="b")
    _complete(crm, patient, datetime(1960, 3, 1, 12, tzinfo=UTC), kind="c")  # before the SQL's offsets: Python
    now = datetime(2026, 2, 25, tzinfo=UTC)
    assert crm.reminders.plan(now=now, horizon=timedelta(days=30)) == 3
    due = {r.care_plan_id: r.due_at for r in crm.reminders.list(patient_id=patient.id, limit=10)}
    until = now + timedelta(days=30)
    assert due == {
        text_plan.id: recall_due("6 months", datetime(2025, 9, 1, 14, tzinfo=UTC), "America/New_York", until),
        rule_plan.id: recall_due(
            "FREQ=MONTHLY;INTERVAL=6", datetime(2025, 9, 1, 14, tzinfo=UTC), "America/New_York", until
        ),
        old_plan.id: recall_due("1 year", datetime(1960, 3, 1, 12, tzinfo=UTC), "America/New_York", until),
    }
    assert due[text_plan.id] == datetime(2026, 3, 1, 15, tzinfo=UTC)  # 10:00 EDT in September, 10:00 EST in March
    assert crm.reminders.plan(now=now, horizon=timedelta(days=30)) == 0
