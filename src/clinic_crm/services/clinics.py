"""Use cases of clinics: create one, read one, change its settings, keep its calendar of working days."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import ValidationError
from clinic_crm.localtime import WorkingCalendar
from clinic_crm.localtime import add_working_days as _add_working_days
from clinic_crm.models import Clinic, ClinicDay
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.values import check_locale, check_region, check_time, check_timezone, utc

__all__ = [
    "DEFAULT_QUIET_HOURS",
    "create_clinic",
    "get_clinic",
    "list_clinics",
    "update_clinic",
    "ClinicSettings",
    "add_closure",
    "add_working_day",
    "is_working_day",
    "add_working_days",
    "working_calendar",
    "clinic_add_working_days",
]

DEFAULT_QUIET_HOURS = (time(21), time(8))


def create_clinic(
    session: Session,
    name: str,
    *,
    timezone: str,
    locale: str,
    region: str,
    quiet_hours: tuple[time, time] = DEFAULT_QUIET_HOURS,
    now: datetime | None = None,
) -> Clinic:
    """Create a clinic.

    Args:
        name: shown in messages.
        timezone: IANA name (``"Asia/Taipei"``).
        locale: Babel locale id (``"zh_TW"``).
        region: ISO country code used to parse local phone numbers (``"TW"``).
        quiet_hours: ``(start, end)`` local wall times; no message is sent in ``[start, end)``.

    Raises:
        ValidationError: any argument is malformed.
    """
    quiet_start, quiet_end = _quiet_hours(quiet_hours)
    clinic = Clinic(
        name=require_text(name, "name"),
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        timezone=check_timezone(timezone),
        locale=check_locale(locale),
        region=check_region(region),
        created_at=utc(now),
    )
    session.add(clinic)
    session.flush()
    return clinic


def _quiet_hours(value: object) -> tuple[time, time]:
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValidationError("quiet_hours must be a (start, end) pair of datetime.time", field="quiet_hours")
    return check_time(value[0], "quiet_hours"), check_time(value[1], "quiet_hours")


@reads
def get_clinic(session: Session, clinic_id: int) -> Clinic:
    """Return the clinic or raise ``NotFound``."""
    return get_or_404(session, Clinic, clinic_id)


@reads
def list_clinics(session: Session) -> list[Clinic]:
    """Every clinic, ordered by id."""
    return list(session.scalars(select(Clinic).order_by(col(Clinic.id))))


_UPDATABLE = (
    "birthday_greetings",
    "name",
    "timezone",
    "locale",
    "quiet_hours",
    "appointment_offsets",
    "survey_url_template",
    "survey_delay_minutes",
)


class ClinicSettings(TypedDict, total=False):
    """The settings ``crm.clinics.update`` takes (all optional).

    For a host's type checker only (PEP 692): at run time an unknown setting is still a ``ValidationError``
    naming it, and every value is validated.
    """

    birthday_greetings: bool
    name: str
    timezone: str
    locale: str
    quiet_hours: tuple[time, time] | list[time]
    appointment_offsets: Sequence[int]
    survey_url_template: str | None
    survey_delay_minutes: int


def update_clinic(session: Session, /, clinic_id: int, **fields: Unpack[ClinicSettings]) -> Clinic:
    """Change a clinic's settings (typed by :class:`ClinicSettings`).

    Fields: ``birthday_greetings`` (opt-in, marketing), ``name``, ``timezone``, ``locale``, ``quiet_hours``,
    ``appointment_offsets`` (minutes before a visit, e.g. ``[1440, 120]``), ``survey_url_template``
    (with ``{token}``),
    ``survey_delay_minutes``.

    Raises:
        NotFound, ValidationError
    """
    clinic = get_or_404(session, Clinic, clinic_id, for_update=True)
    for key, value in fields.items():
        if key not in _UPDATABLE:
            raise ValidationError(f"{key} is not a clinic setting; expected one of {', '.join(_UPDATABLE)}", field=key)
        if key == "name":
            clinic.name = require_text(value, "name")
        elif key == "timezone":
            clinic.timezone = check_timezone(value)
        elif key == "locale":
            clinic.locale = check_locale(value)
        elif key == "quiet_hours":
            clinic.quiet_start, clinic.quiet_end = _quiet_hours(value)
        elif key == "appointment_offsets":
            if (
                not isinstance(value, list | tuple)
                or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 60 * 24 * 60 for v in value)
            ):
                raise ValidationError(
                    "appointment_offsets must be a non-empty list of minutes before the visit (1 … 86400)",
                    field=key,
                )
            clinic.appointment_offsets = sorted(set(value), reverse=True)
        elif key == "birthday_greetings":
            if not isinstance(value, bool):
                raise ValidationError("birthday_greetings must be True or False", field=key)
            clinic.birthday_greetings = value
        elif key == "survey_url_template":
            if value is not None and (not isinstance(value, str) or "{token}" not in value):
                raise ValidationError("survey_url_template must contain '{token}'", field=key)
            clinic.survey_url_template = value
        elif key == "survey_delay_minutes":
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 60 * 24 * 14:
                raise ValidationError("survey_delay_minutes must be an integer from 0 to 20160", field=key)
            clinic.survey_delay_minutes = value
    session.flush()
    return clinic


# --- the clinic's calendar of working days (the rule itself lives in clinic_crm.localtime) ---------------------


def _check_day(value: object) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise ValidationError("day must be a datetime.date", field="day")
    return value


def _record_day(
    session: Session, clinic_id: int, day: object, *, working: bool, reason: str, at: datetime | None
) -> ClinicDay:
    checked = _check_day(day)
    reason = require_text(reason, "reason", max_length=500)
    when = utc(at, "at")
    get_or_404(session, Clinic, clinic_id, for_update=True)
    row = ClinicDay(clinic_id=clinic_id, day=checked, working=working, reason=reason, recorded_at=when)
    session.add(row)
    session.flush()
    return row


def add_closure(session: Session, clinic_id: int, day: date, *, reason: str, at: datetime | None = None) -> ClinicDay:
    """Record a day the clinic is closed although it would be a working day (a training day, a typhoon).

    Deadlines counted in working days skip it from then on.  When a day is recorded both as a closure and as a
    working day, the later record wins.

    Raises:
        NotFound: no such clinic.
        ValidationError: ``day`` is not a ``date``, or ``reason`` is empty.
    """
    return _record_day(session, clinic_id, day, working=False, reason=reason, at=at)


def add_working_day(
    session: Session, clinic_id: int, day: date, *, reason: str, at: datetime | None = None
) -> ClinicDay:
    """Record a day the clinic works although it would not (a Saturday clinic, a holiday opened).

    Raises:
        NotFound: no such clinic.
        ValidationError: ``day`` is not a ``date``, or ``reason`` is empty.
    """
    return _record_day(session, clinic_id, day, working=True, reason=reason, at=at)


def working_calendar(session: Session, clinic: Clinic) -> WorkingCalendar:
    """The clinic's :class:`~clinic_crm.localtime.WorkingCalendar`: its region plus the days it recorded."""
    rows = session.execute(
        select(col(ClinicDay.day), col(ClinicDay.working))
        .where(col(ClinicDay.clinic_id) == clinic.id)
        .order_by(col(ClinicDay.id))
    )
    return WorkingCalendar(region=clinic.region, overrides={day: working for day, working in rows})


@reads
def is_working_day(session: Session, clinic_id: int, day: date) -> bool:
    """Whether the clinic works on ``day``: Monday–Friday minus its region's public holidays, plus the region's
    weekend make-up working days, minus its closures, plus its extra working days.

    Raises:
        NotFound: no such clinic.
        ValidationError: ``day`` is not a ``date``.
    """
    checked = _check_day(day)
    clinic = get_or_404(session, Clinic, clinic_id)
    return working_calendar(session, clinic).is_working_day(checked)


def clinic_add_working_days(session: Session, clinic: Clinic, instant: datetime, days: int) -> datetime:
    """:func:`clinic_crm.localtime.add_working_days` on ``clinic``'s calendar and time zone (for services)."""
    return _add_working_days(instant, days, timezone=clinic.timezone, calendar=working_calendar(session, clinic))


def add_working_days(session: Session, clinic_id: int, instant: datetime, days: int) -> datetime:
    """The same local wall time ``days`` working days after ``instant``, on the clinic's calendar.

    Counting starts with the next calendar day (Saturday + 1 → Monday); ``days=0`` returns ``instant``.  A local
    time that does not exist that day moves forward by the gap; one that occurs twice takes the first.
    Example: a TW clinic, Friday 2026-02-13 10:00 local + 2 → Tuesday 2026-02-24 10:00 local (Lunar New Year).

    Returns:
        An aware UTC datetime.

    Raises:
        NotFound: no such clinic.
        NaiveDatetimeError: ``instant`` is naive.
        ValidationError: ``days`` is negative or not an integer.
    """
    clinic = get_or_404(session, Clinic, clinic_id)
    return clinic_add_working_days(session, clinic, instant, days)
