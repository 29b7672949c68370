"""Working days and local wall times (clinic_crm.localtime): pure rules, no database."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm.errors import NaiveDatetimeError, ValidationError
from clinic_crm.localtime import (
    WorkingCalendar,
    add_working_days,
    at_local_time,
    month_bounds,
    parse_working_days,
    region_days,
)

TW = WorkingCalendar(region="TW")
TAIPEI = ZoneInfo("Asia/Taipei")


def test_contract_example_lunar_new_year() -> None:
    # Friday 2026-02-13 10:00 Taipei + 2 working days: 02-16…02-20 are holidays → Tuesday 02-24 10:00
    start = datetime(2026, 2, 13, 10, 0, tzinfo=TAIPEI)
    due = add_working_days(start, 2, timezone="Asia/Taipei", calendar=TW)
    assert due == datetime(2026, 2, 24, 10, 0, tzinfo=TAIPEI)
    assert due.tzinfo is UTC


def test_region_holidays_and_make_up_days() -> None:
    assert not TW.is_working_day(date(2026, 2, 16))  # Lunar New Year's Eve (observed)
    assert not TW.is_working_day(date(2026, 10, 9))  # National Day (observed)
    assert TW.is_working_day(date(2025, 2, 8))  # a Saturday made a working day in 2025
    assert not TW.is_working_day(date(2025, 2, 15))  # an ordinary Saturday
    holidays_2026, make_up_2026 = region_days("TW", 2026)
    assert date(2026, 2, 17) in holidays_2026
    assert all(day.year == 2026 for day in holidays_2026 | make_up_2026)


def test_weekend_is_always_saturday_and_sunday() -> None:
    # the contract counts Monday–Friday whatever the package's own weekend for a region
    plain = WorkingCalendar(region="ZZ")  # a region the holidays package does not know: no holidays
    assert [plain.is_working_day(date(2026, 3, d)) for d in range(2, 9)] == [True] * 5 + [False] * 2


def test_clinic_records_override_the_region() -> None:
    calendar = WorkingCalendar(region="TW", overrides={date(2026, 2, 16): True, date(2026, 3, 3): False})
    assert calendar.is_working_day(date(2026, 2, 16))
    assert not calendar.is_working_day(date(2026, 3, 3))


def test_saturday_plus_one_is_monday_and_zero_is_the_instant() -> None:
    plain = WorkingCalendar(region="ZZ")
    saturday = datetime(2026, 3, 7, 15, 30, tzinfo=TAIPEI)
    assert add_working_days(saturday, 1, timezone="Asia/Taipei", calendar=plain) == datetime(
        2026, 3, 9, 15, 30, tzinfo=TAIPEI
    )
    assert add_working_days(saturday, 0, timezone="Asia/Taipei", calendar=plain) == saturday


def test_bad_input() -> None:
    start = datetime(2026, 3, 2, 9, tzinfo=UTC)
    with pytest.raises(NaiveDatetimeError):
        add_working_days(datetime(2026, 3, 2, 9), 1, timezone="UTC", calendar=TW)
    for days in (-1, True, 1.5, "2", 10**9):
        with pytest.raises(ValidationError) as info:
            add_working_days(start, days, timezone="UTC", calendar=TW)  # type: ignore[arg-type]
        assert info.value.field == "days"
    with pytest.raises(ValidationError):
        add_working_days(datetime(9999, 12, 30, tzinfo=UTC), 5, timezone="UTC", calendar=TW)


def test_gap_moves_forward_and_overlap_takes_the_first() -> None:
    # New York springs forward on 2026-03-08 at 02:00 → 03:00; falls back on 2026-11-01 at 02:00 → 01:00
    assert at_local_time(date(2026, 3, 8), time(2, 30), "America/New_York") == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
    assert at_local_time(date(2026, 11, 1), time(1, 30), "America/New_York") == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)


def test_parse_working_days() -> None:
    assert parse_working_days("3 working days") == 3
    assert parse_working_days(" 1 Working Day ") == 1
    assert parse_working_days("3 days") is None
    assert parse_working_days("three working days") is None


def test_month_bounds_follow_the_zone() -> None:
    months = month_bounds("Asia/Taipei", datetime(2026, 1, 31, 16, tzinfo=UTC), datetime(2026, 2, 2, tzinfo=UTC))
    assert [label for label, _, _ in months] == ["2026-02"]
    assert months[0][1] == datetime(2026, 1, 31, 16, tzinfo=UTC)


REGIONS = ["TW", "US", "CN", "GB", "DE", "JP", "ZZ"]
ZONES = ["Asia/Taipei", "America/New_York", "Europe/London", "Australia/Lord_Howe", "Pacific/Chatham", "UTC"]


def _exists(wall: datetime, tz: ZoneInfo) -> bool:
    return wall.replace(tzinfo=tz).astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


@given(
    instant=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)),
    days=st.integers(min_value=0, max_value=40),
    region=st.sampled_from(REGIONS),
    zone=st.sampled_from(ZONES),
)
def test_working_day_properties(instant: datetime, days: int, region: str, zone: str) -> None:
    calendar = WorkingCalendar(region=region)
    tz = ZoneInfo(zone)
    due = add_working_days(instant, days, timezone=zone, calendar=calendar)
    assert due >= instant  # never earlier than the input
    if days == 0:
        assert due == instant
        return
    local, due_local = instant.astimezone(tz), due.astimezone(tz)
    # the result lands on a working day, and exactly `days` working days lie in (start date, result date]
    assert calendar.is_working_day(due_local.date()) or not _exists(
        datetime.combine(due_local.date(), local.time()), tz
    )
    target_day = local.date()
    counted = 0
    while counted < days:
        target_day += timedelta(days=1)
        counted += calendar.is_working_day(target_day)
    wall = datetime.combine(target_day, local.time().replace(tzinfo=None, fold=0))
    if _exists(wall, tz):
        assert due_local.replace(tzinfo=None) == wall  # the same local wall time (the first of two)
    else:
        assert due_local.replace(tzinfo=None) > wall  # in a gap: moved forward
    # monotone in days
    assert add_working_days(instant, days + 1, timezone=zone, calendar=calendar) > due
