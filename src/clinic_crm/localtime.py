"""Local wall-clock arithmetic: the one home of working days and of "the same local time, N days later".

Pure functions, no database.  Every deadline the library counts in working days (survey follow-ups, feedback
cases, data requests) goes through :func:`add_working_days` with the clinic's :class:`WorkingCalendar`.

A day is a working day when it is Monday–Friday and not a public holiday of the clinic's region, or when the
``holidays`` package lists it as a weekend make-up working day of the region — unless the clinic recorded it
itself as a closure or an extra working day (the later record for a day wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

import holidays

from clinic_crm.errors import ValidationError
from clinic_crm.values import aware, zone

__all__ = [
    "MAX_WORKING_DAYS",
    "WorkingCalendar",
    "region_days",
    "add_working_days",
    "at_local_time",
    "parse_working_days",
    "month_bounds",
]

#: The largest ``days`` :func:`add_working_days` accepts (about 40 years of working days).
MAX_WORKING_DAYS = 10_000


@lru_cache(maxsize=512)
def region_days(region: str, year: int) -> tuple[frozenset[date], frozenset[date]]:
    """The public holidays and the weekend make-up working days of ``region`` in ``year``.

    Both come from ``holidays.country_holidays(region)``; a region the package does not know has neither
    (Monday–Friday only).
    """
    try:
        calendar = holidays.country_holidays(region, years=year)
    except NotImplementedError:
        return frozenset(), frozenset()
    days_off = frozenset(day for day in calendar if day.year == year)
    make_up = frozenset(day for day in getattr(calendar, "weekend_workdays", ()) if day.year == year)
    return days_off, make_up


@dataclass(frozen=True)
class WorkingCalendar:
    """A clinic's working days: its region's calendar plus the days the clinic recorded itself.

    Attributes:
        region: ISO country code whose public holidays and make-up working days count.
        overrides: day → ``True`` (extra working day) or ``False`` (closure), the latest record per day.
    """

    region: str
    overrides: Mapping[date, bool] = field(default_factory=dict)

    def is_working_day(self, day: date) -> bool:
        """Whether the clinic works on ``day``."""
        override = self.overrides.get(day)
        if override is not None:
            return override
        days_off, make_up = region_days(self.region, day.year)
        if day in make_up:
            return True
        return day.weekday() < 5 and day not in days_off


def at_local_time(day: date, wall: time, timezone: str) -> datetime:
    """The UTC instant at which ``timezone``'s clock reads ``day`` ``wall``.

    A wall time that does not exist that day (spring forward) moves forward by the gap (02:30 → 03:30);
    one that occurs twice (fall back) takes the first occurrence.
    """
    # fold=0: in a gap zoneinfo applies the offset from before the transition, which lands the gap's length
    # later; in an overlap it is the first occurrence
    return datetime.combine(day, wall.replace(fold=0, tzinfo=None), tzinfo=zone(timezone)).astimezone(UTC)


def add_working_days(instant: datetime, days: int, *, timezone: str, calendar: WorkingCalendar) -> datetime:
    """The same local wall time ``days`` working days after ``instant``.

    Counting starts with the next calendar day (Saturday + 1 → Monday); ``days=0`` returns ``instant``.

    Args:
        instant: an aware datetime.
        days: working days to add, ``0 … MAX_WORKING_DAYS``.
        timezone: IANA zone whose calendar and wall clock count (the clinic's).
        calendar: the clinic's working days.

    Returns:
        An aware UTC datetime (see :func:`at_local_time` for days on which the wall time is missing or doubled).

    Raises:
        NaiveDatetimeError: ``instant`` is naive.
        ValidationError: ``days`` is not an integer in range.
    """
    if isinstance(days, bool) or not isinstance(days, int):
        raise ValidationError("days must be an integer", field="days")
    if not 0 <= days <= MAX_WORKING_DAYS:
        raise ValidationError(f"days must be from 0 to {MAX_WORKING_DAYS}", field="days")
    instant = aware(instant, "instant")
    if days == 0:
        return instant.astimezone(UTC)
    local = instant.astimezone(zone(timezone))
    day = local.date()
    left = days
    try:
        while left:
            day += timedelta(days=1)
            if calendar.is_working_day(day):
                left -= 1
    except OverflowError as exc:
        raise ValidationError("the result is past the year 9999", field="days") from exc
    return at_local_time(day, local.time(), timezone)


def parse_working_days(text: str) -> int | None:
    """The ``N`` of a target written ``"N working days"`` (``"1 working day"`` too), else ``None``."""
    words = text.strip().lower().split()
    if len(words) == 3 and words[1] == "working" and words[2] in ("day", "days") and words[0].isdecimal():
        count = int(words[0])
        return count if count <= MAX_WORKING_DAYS else None
    return None


def month_bounds(timezone: str, first: datetime, last: datetime) -> list[tuple[str, datetime, datetime]]:
    """The calendar months of ``timezone`` from the one holding ``first`` to the one holding ``last``.

    Returns:
        ``(label, start, end)`` per month: ``"2026-03"`` and the UTC instants of its first local
        midnight and of the next month's (a month is ``[start, end)``).
    """
    tz = zone(timezone)
    lo = first.astimezone(tz)
    hi = last.astimezone(tz)
    year, month = lo.year, lo.month
    out: list[tuple[str, datetime, datetime]] = []
    start = datetime(year, month, 1, tzinfo=tz).astimezone(UTC)
    while (year, month) <= (hi.year, hi.month):
        ny, nm = (year + 1, 1) if month == 12 else (year, month + 1)
        end = datetime(ny, nm, 1, tzinfo=tz).astimezone(UTC)
        out.append((f"{year:04d}-{month:02d}", start, end))
        year, month, start = ny, nm, end
    return out
