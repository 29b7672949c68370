"""Planning: turning booked visits, recall plans, birthdays and clinic greetings into reminder rows.

``plan_reminders`` is idempotent because every planned row carries a ``plan_key`` that the
database keeps unique; rows are inserted with ``INSERT … ON CONFLICT (plan_key) DO NOTHING``
(SQLite and PostgreSQL), so two planners running at once cannot create a duplicate either.

* Appointment reminders: for every booked visit starting after ``now``, one per
  ``clinic.appointment_offsets`` (minutes before the visit, default ``[1440]``) whose due time
  is within the horizon.  Offsets already past are collapsed into the one closest to the visit
  (a visit booked 3 hours ahead gets one reminder now, not one per past offset).  They expire
  when the visit starts.  Plan keys: ``appointment:<visit>:<offset>``.
* Recalls: for each active care plan, ``every`` after the last *completed* visit of
  ``after_visit_kind`` (its ``completed_at``, on the patient's local wall clock).  No completed
  visit: nothing to anchor, no recall.  While a later visit of that kind is booked or checked in,
  the plan is satisfied: nothing is created, and its pending recall reminders are cancelled (with
  ``suppressed_reason`` ``"satisfied"``); when that booking is cancelled or missed, the next ``plan``
  makes the recall pending again (a cancelled or no-show visit never satisfies it).  A newer
  completed visit supersedes the previous recall.  Plan keys: ``recall:<plan>:<due epoch seconds>``.
* Birthdays (purpose ``marketing``; only where ``clinic.birthday_greetings`` is on): at 10:00 in the
  patient's time zone on their birthday (29 February → 28 February in common years), when that day
  is today or later and within the horizon; expire at the end of that local day.
  Plan keys: ``birthday:<patient>:<year>``.
* Greetings (purpose ``marketing``): each active :class:`~clinic_crm.models.Greeting` of a clinic,
  to every patient of the clinic, at its local time on its month/day in the patient's zone;
  expire at the end of that local day.  Plan keys: ``greeting:<greeting>:<year>:<patient>``.
* Event reminders (purpose ``care``, kind ``"event_reminder"``): 24 hours before a scheduled event starts,
  to each patient holding a ``registered`` seat (one registered less than 24 hours ahead gets it now); they
  expire when the event starts and carry the event's snapshot and ``.ics`` (``services.events``).  Plan keys:
  ``event:<event>:r<registration>:reminder:<reschedules>`` — a new start time gives new keys (the old
  reminders are cancelled by ``crm.events.update``).

How it scales: appointments, birthdays and greetings are each a few ``INSERT … SELECT … ON CONFLICT DO NOTHING``
statements (one per offset, per patient time zone, per greeting); local times are computed in Python once per
distinct (zone, day) and inlined, since SQLite has no time zone database.  Recalls with a text interval are
set-based too (due times computed in SQL, :mod:`.recall_sets`); RRULE recalls need Python and are streamed in
batches of care plans (:mod:`.recalls`).  Every row's
column values come from :func:`~clinic_crm.services.reminders.rows.reminder_values`.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Interval, String, extract, func, literal, select, union_all
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.errors import ValidationError
from clinic_crm.models import Clinic, Event, Registration
from clinic_crm.models._base import UTCDateTime
from clinic_crm.services.events._rules import reminder_key
from clinic_crm.services.events.calendar import event_snapshot
from clinic_crm.services.reminders._tables import t_clinic, t_greeting, t_patient, t_visit
from clinic_crm.services.reminders.quiet import local_instants
from clinic_crm.services.reminders.recalls import plan_recalls
from clinic_crm.services.reminders.rows import (
    bound,
    insert_rows,
    insert_select,
    new_key,
    reminder_values,
    text_of,
)
from clinic_crm.values import aware, zone

__all__ = ["plan_reminders", "BIRTHDAY_LOCAL_TIME", "EVENT_REMINDER_BEFORE", "MAX_HORIZON"]

#: Local time at which birthday greetings fall due.
BIRTHDAY_LOCAL_TIME = time(10)
#: How long before an event its registered patients are reminded.
EVENT_REMINDER_BEFORE = timedelta(hours=24)
#: The longest horizon ``plan`` accepts.
MAX_HORIZON = timedelta(days=400)
#: Days per statement of the birthday plan (SQLite allows 500 terms in a compound SELECT).
_DAYS_PER_STATEMENT = 200


def plan_reminders(session: Session, *, now: datetime, horizon: timedelta) -> int:
    """Create the reminders that fall due within ``horizon`` of ``now``; return how many were new.

    Raises:
        NaiveDatetimeError, ValidationError: ``now`` naive, ``horizon`` not a timedelta in (0, 400 days].
    """
    now = aware(now, "now")
    if not isinstance(horizon, timedelta) or not timedelta(0) <= horizon <= MAX_HORIZON:
        raise ValidationError("horizon must be a timedelta between 0 and 400 days", field="horizon")
    until = now + horizon
    made = _appointments(session, now, until)
    made += plan_recalls(session, now, until)
    made += _birthdays(session, now, until)
    made += _greetings(session, now, until)
    return made + _event_reminders(session, now, until)


# --- appointments ----------------------------------------------------------------------------------------------


def _minutes_before(session: Session, instant: ColumnElement[Any], minutes: int) -> ColumnElement[Any]:
    """``instant`` minus ``minutes`` in SQL, stored the way ``UTCDateTime`` stores it on each database."""
    if session.get_bind().dialect.name == "postgresql":
        return instant - literal(timedelta(minutes=minutes), Interval())
    # SQLite keeps naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff'; whole minutes leave the fraction as it was
    shifted = func.strftime("%Y-%m-%d %H:%M:%S", instant, f"-{minutes} minutes", type_=String)
    return shifted.op("||")(func.substr(instant, 20, type_=String))


def _appointments(session: Session, now: datetime, until: datetime) -> int:
    """One ``INSERT … SELECT`` per distinct (offset, next smaller offset) of the clinics.

    A visit gets the reminder of offset ``o`` when it is due by ``until`` and either still ahead or the closest
    past one (the next smaller offset ``p`` is not yet past): ``now + p < starts_at <= until + o``.
    """
    clinics: dict[tuple[int, int], list[int]] = defaultdict(list)
    every_clinic: set[int] = set()
    for clinic_id, offsets in session.execute(select(t_clinic.c.id, t_clinic.c.appointment_offsets)):
        every_clinic.add(clinic_id)
        ordered = sorted(set(offsets or [1440]))  # closest to the visit first
        for previous, offset in zip([0, *ordered], ordered, strict=False):
            clinics[(offset, previous)].append(clinic_id)
    made = 0
    for (offset, previous), clinic_ids in sorted(clinics.items()):
        where = [
            t_visit.c.status == "booked",
            t_visit.c.starts_at > now + timedelta(minutes=previous),
            t_visit.c.starts_at <= until + timedelta(minutes=offset),
        ]
        if len(clinic_ids) < len(every_clinic):
            where.append(t_visit.c.clinic_id.in_(clinic_ids))
        values = reminder_values(
            clinic_id=t_visit.c.clinic_id,
            patient_id=t_visit.c.patient_id,
            visit_id=t_visit.c.id,
            kind="appointment",
            purpose="care",
            due_at=_minutes_before(session, t_visit.c.starts_at, offset),
            expires_at=t_visit.c.starts_at,
            plan_key=literal("appointment:") + text_of(t_visit.c.id) + literal(f":{offset}"),
            created_at=now,
            idempotency_key=None,
        )
        source = t_visit.join(t_patient, t_patient.c.id == t_visit.c.patient_id)
        made += insert_select(session, values, source, *where)
    return made


# --- birthdays and greetings -------------------------------------------------------------------------------------


def _day_ends(day: date, timezone: str) -> datetime:
    """The instant the local day after ``day`` begins (when a greeting of ``day`` expires)."""
    return local_instants(day + timedelta(days=1), time(0), timezone)[0]


def _days(now: datetime, until: datetime, timezone: str) -> list[date]:
    tz = zone(timezone)
    first, last = now.astimezone(tz).date(), until.astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _birthday_days(now: datetime, until: datetime, timezone: str) -> list[tuple[int, int, int, datetime, datetime]]:
    """(birth month, birth day, year, due, expires) of each local day of the window in ``timezone``.

    Someone born on 29 February is greeted on 28 February in common years.
    """
    found = []
    for local_day in _days(now, until, timezone):
        due = local_instants(local_day, BIRTHDAY_LOCAL_TIME, timezone)[0]
        if due > until:
            continue
        expires = _day_ends(local_day, timezone)
        found.append((local_day.month, local_day.day, local_day.year, due, expires))
        if (local_day.month, local_day.day) == (2, 28) and not _is_leap(local_day.year):
            found.append((2, 29, local_day.year, due, expires))
    return found


def _birthdays(session: Session, now: datetime, until: datetime) -> int:
    """Per patient time zone: patients joined with the window's days (computed here) on their birth month/day."""
    greeted = (
        t_patient.join(t_clinic, t_clinic.c.id == t_patient.c.clinic_id),
        t_patient.c.birth_date.is_not(None),
        t_clinic.c.birthday_greetings.is_(True),
    )
    zones = session.scalars(select(t_patient.c.timezone).select_from(greeted[0]).where(*greeted[1:]).distinct())
    dialect = session.get_bind().dialect.name
    born = t_patient.c.birth_date
    born_on = extract("month", born) * 100 + extract("day", born)  # one key per month/day, e.g. 304
    integer = t_patient.c.id.type
    made = 0
    for timezone in sorted(zones):
        days = _birthday_days(now, until, timezone)
        for start in range(0, len(days), _DAYS_PER_STATEMENT):
            chunk = days[start : start + _DAYS_PER_STATEMENT]
            table = union_all(
                *(
                    select(
                        bound(month * 100 + day, integer, dialect).label("born_on"),
                        bound(year, integer, dialect).label("year"),
                        bound(due, UTCDateTime(), dialect).label("due"),
                        bound(expires, UTCDateTime(), dialect).label("expires"),
                    )
                    for month, day, year, due, expires in chunk
                )
            ).subquery("birthday_day")
            values = reminder_values(
                clinic_id=t_patient.c.clinic_id,
                patient_id=t_patient.c.id,
                kind="birthday",
                purpose="marketing",
                due_at=table.c.due,
                expires_at=table.c.expires,
                plan_key=literal("birthday:") + text_of(t_patient.c.id) + literal(":") + text_of(table.c.year),
                created_at=now,
                idempotency_key=None,
            )
            made += insert_select(
                session,
                values,
                greeted[0].join(table, born_on == table.c.born_on),
                *greeted[1:],
                t_patient.c.timezone == timezone,
                # the same days as a plain list first: most patients are dropped before the join
                born_on.in_(sorted({month * 100 + day for month, day, _y, _d, _e in chunk})),
                extract("year", born) < table.c.year,
            )
    return made


def _greetings(session: Session, now: datetime, until: datetime) -> int:
    """Per active greeting, patient time zone and matching local day: one ``INSERT … SELECT`` of the patients."""
    greetings = session.execute(
        select(
            t_greeting.c.id,
            t_greeting.c.clinic_id,
            t_greeting.c.kind,
            t_greeting.c.month,
            t_greeting.c.day,
            t_greeting.c.local_time_minutes,
            t_greeting.c.starts_on,
        ).where(t_greeting.c.active.is_(True))
    ).all()
    if not greetings:
        return 0
    clinic_ids = sorted({g.clinic_id for g in greetings})
    zones: dict[int, list[str]] = defaultdict(list)
    for clinic_id, timezone in session.execute(
        select(t_patient.c.clinic_id, t_patient.c.timezone).where(t_patient.c.clinic_id.in_(clinic_ids)).distinct()
    ):
        zones[clinic_id].append(timezone)
    made = 0
    for greeting in greetings:
        for timezone in sorted(zones[greeting.clinic_id]):
            for local_day in _days(now, until, timezone):
                if (local_day.month, local_day.day) != (greeting.month, greeting.day):
                    continue
                if greeting.starts_on is not None and local_day < greeting.starts_on:
                    continue
                minutes = greeting.local_time_minutes
                due = local_instants(local_day, time(minutes // 60, minutes % 60), timezone)[0]
                if due > until:
                    continue
                values = reminder_values(
                    clinic_id=greeting.clinic_id,
                    patient_id=t_patient.c.id,
                    kind=greeting.kind,
                    purpose="marketing",
                    due_at=due,
                    expires_at=_day_ends(local_day, timezone),
                    plan_key=literal(f"greeting:{greeting.id}:{local_day.year}:") + text_of(t_patient.c.id),
                    payload={"template": "greeting"},
                    created_at=now,
                    idempotency_key=None,
                )
                made += insert_select(
                    session,
                    values,
                    t_patient,
                    t_patient.c.clinic_id == greeting.clinic_id,
                    t_patient.c.timezone == timezone,
                )
    return made


# --- community events -------------------------------------------------------------------------------------------


def _event_reminders(session: Session, now: datetime, until: datetime) -> int:
    found = session.execute(
        select(Event, col(Registration.id), col(Registration.patient_id), col(Clinic.locale))
        .join(Registration, col(Registration.event_id) == col(Event.id))
        .join(Clinic, col(Clinic.id) == col(Event.clinic_id))
        .where(
            col(Event.status) == "scheduled",
            col(Registration.status) == "registered",
            col(Event.starts_at) > now,
            col(Event.starts_at) <= until + EVENT_REMINDER_BEFORE,
        )
    ).all()
    snapshots: dict[int, dict[str, Any]] = {}
    rows: list[dict[str, Any]] = []
    for event, registration_id, patient_id, locale in found:
        event_id = int(event.id or 0)
        if event_id not in snapshots:
            snapshots[event_id] = event_snapshot(event, locale)
        rows.append(
            reminder_values(
                clinic_id=event.clinic_id,
                patient_id=patient_id,
                kind="event_reminder",
                purpose="care",
                due_at=event.starts_at - EVENT_REMINDER_BEFORE,
                expires_at=event.starts_at,
                plan_key=reminder_key(event_id, int(registration_id or 0), event.reschedules),
                payload=snapshots[event_id],
                created_at=now,
                idempotency_key=new_key(),
            )
        )
    return insert_rows(session, rows)
