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
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import bindparam, extract, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.errors import ValidationError
from clinic_crm.models import CarePlan, Clinic, Event, Greeting, Patient, Registration
from clinic_crm.services.events._rules import reminder_key
from clinic_crm.services.events.calendar import event_snapshot
from clinic_crm.services.reminders._tables import t_care_plan, t_clinic, t_greeting, t_patient, t_reminder, t_visit
from clinic_crm.services.reminders.quiet import local_instants
from clinic_crm.services.reminders.scheduling import parse_every, recurrence
from clinic_crm.values import aware, zone

__all__ = ["plan_reminders", "insert_planned", "BIRTHDAY_LOCAL_TIME", "EVENT_REMINDER_BEFORE", "MAX_HORIZON"]

#: Local time at which birthday greetings fall due.
BIRTHDAY_LOCAL_TIME = time(10)
#: How long before an event its registered patients are reminded.
EVENT_REMINDER_BEFORE = timedelta(hours=24)
#: The longest horizon ``plan`` accepts.
MAX_HORIZON = timedelta(days=400)


def plan_reminders(session: Session, *, now: datetime, horizon: timedelta) -> int:
    """Create the reminders that fall due within ``horizon`` of ``now``; return how many were new.

    Raises:
        NaiveDatetimeError, ValidationError: ``now`` naive, ``horizon`` not a timedelta in (0, 400 days].
    """
    now = aware(now, "now")
    if not isinstance(horizon, timedelta) or not timedelta(0) <= horizon <= MAX_HORIZON:
        raise ValidationError("horizon must be a timedelta between 0 and 400 days", field="horizon")
    until = now + horizon
    rows: list[dict[str, Any]] = []
    rows += _appointments(session, now, until)
    recalls, revived = _recalls(session, now, until)
    rows += recalls
    rows += _birthdays(session, now, until)
    rows += _greetings(session, now, until)
    rows += _event_reminders(session, now, until)
    return insert_planned(session, rows) + revived


def _row(
    *,
    clinic_id: int,
    patient_id: int,
    kind: str,
    purpose: str,
    due_at: datetime,
    plan_key: str,
    now: datetime,
    visit_id: int | None = None,
    care_plan_id: int | None = None,
    channel: str | None = None,
    expires_at: datetime | None = None,
    payload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "visit_id": visit_id,
        "care_plan_id": care_plan_id,
        "kind": kind,
        "purpose": purpose,
        "channel": channel,
        "due_at": due_at,
        "ready_at": due_at,
        "expires_at": expires_at,
        "status": "pending",
        "attempts": 0,
        "idempotency_key": uuid.uuid4().hex,
        "plan_key": plan_key,
        "payload": payload or {},
        "created_at": now,
    }


def insert_planned(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert planned reminder rows, skipping every ``plan_key`` that exists; return how many were inserted.

    Rows of erased patients, and of records merged into another, are skipped: they are never contacted.
    """
    if not rows:
        return 0
    never = or_(t_patient.c.erased_at.is_not(None), t_patient.c.merged_into_id.is_not(None))
    gone = set(session.scalars(select(t_patient.c.id).where(never)))
    if gone:
        rows = [row for row in rows if row["patient_id"] not in gone]
        if not rows:
            return 0
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(t_reminder).on_conflict_do_nothing(index_elements=["plan_key"]).returning(t_reminder.c.id)
    inserted = 0
    for start in range(0, len(rows), 5000):
        inserted += len(session.execute(stmt, rows[start : start + 5000]).all())
    return inserted


# --- appointments ----------------------------------------------------------------------------------------------


def _appointments(session: Session, now: datetime, until: datetime) -> list[dict[str, Any]]:
    offsets_by_clinic = {
        cid: list(offsets or [1440])
        for cid, offsets in session.execute(select(t_clinic.c.id, t_clinic.c.appointment_offsets))
    }
    if not offsets_by_clinic:
        return []
    longest = max(max(offsets) for offsets in offsets_by_clinic.values())
    visits = session.execute(
        select(t_visit.c.id, t_visit.c.clinic_id, t_visit.c.patient_id, t_visit.c.starts_at).where(
            t_visit.c.status == "booked",
            t_visit.c.starts_at > now,
            t_visit.c.starts_at <= until + timedelta(minutes=longest),
        )
    ).all()
    rows: list[dict[str, Any]] = []
    for visit in visits:
        offsets = sorted(offsets_by_clinic[visit.clinic_id])  # closest to the visit first
        past_taken = False
        for offset in offsets:
            due = visit.starts_at - timedelta(minutes=offset)
            if due > until:
                continue
            if due <= now:
                if past_taken:
                    continue
                past_taken = True
            rows.append(
                _row(
                    clinic_id=visit.clinic_id,
                    patient_id=visit.patient_id,
                    visit_id=visit.id,
                    kind="appointment",
                    purpose="care",
                    due_at=due,
                    expires_at=visit.starts_at,
                    plan_key=f"appointment:{visit.id}:{offset}",
                    now=now,
                )
            )
    return rows


# --- recalls ---------------------------------------------------------------------------------------------------


def _recalls(session: Session, now: datetime, until: datetime) -> tuple[list[dict[str, Any]], int]:
    plans = session.execute(
        select(CarePlan, t_patient.c.clinic_id, t_patient.c.timezone)
        .join(Patient, t_patient.c.id == t_care_plan.c.patient_id)
        .where(t_care_plan.c.active.is_(True))
    ).all()
    if not plans:
        return [], 0
    patient_ids = {plan.patient_id for plan, _clinic, _tz in plans}
    last_done: dict[tuple[int, str], datetime] = {}
    next_booked: dict[tuple[int, str], datetime] = {}
    for chunk in _chunks(sorted(patient_ids), 1000):
        for patient_id, kind, completed in session.execute(
            select(t_visit.c.patient_id, t_visit.c.kind, func.max(t_visit.c.completed_at))
            .where(t_visit.c.patient_id.in_(chunk), t_visit.c.status == "completed")
            .group_by(t_visit.c.patient_id, t_visit.c.kind)
        ):
            last_done[(patient_id, kind)] = completed
        for patient_id, kind, starts in session.execute(
            select(t_visit.c.patient_id, t_visit.c.kind, func.max(t_visit.c.starts_at))
            .where(t_visit.c.patient_id.in_(chunk), t_visit.c.status.in_(("booked", "checked_in")))
            .group_by(t_visit.c.patient_id, t_visit.c.kind)
        ):
            next_booked[(patient_id, kind)] = starts
    rows: list[dict[str, Any]] = []
    keep: list[dict[str, Any]] = []  # per plan: the plan key still wanted ("" for none) and why others go
    for plan, clinic_id, timezone in plans:
        key = (plan.patient_id, plan.after_visit_kind)
        anchor = last_done.get(key)
        booked = next_booked.get(key)
        wanted: str | None = None
        satisfied = anchor is not None and booked is not None and booked > anchor
        if anchor is not None and not satisfied:
            due = _recall_due(plan.every, anchor, timezone, until)
            if due is not None:
                wanted = f"recall:{plan.id}:{int(due.timestamp())}"
                rows.append(
                    _row(
                        clinic_id=clinic_id,
                        patient_id=plan.patient_id,
                        care_plan_id=plan.id,
                        kind=plan.kind,
                        purpose="care",
                        channel=plan.channel,
                        due_at=due,
                        plan_key=wanted,
                        payload={"template": "recall"},
                        now=now,
                    )
                )
        keep.append({"plan_id": plan.id, "wanted": wanted or "", "why": "satisfied" if satisfied else "superseded"})
    # cancel pending recalls that are satisfied by a booking or superseded by a newer visit
    session.execute(
        update(t_reminder)
        .where(
            t_reminder.c.care_plan_id == bindparam("plan_id"),
            t_reminder.c.status == "pending",
            or_(t_reminder.c.plan_key.is_(None), t_reminder.c.plan_key != bindparam("wanted")),
        )
        .values(status="cancelled", suppressed_reason=bindparam("why")),
        keep,
        execution_options={"synchronize_session": False},
    )
    # a recall cancelled because a booking satisfied it comes back when that booking is cancelled or missed
    wanted_keys = [k["wanted"] for k in keep if k["wanted"]]
    revived = 0
    for start in range(0, len(wanted_keys), 1000):
        result = session.execute(
            update(t_reminder)
            .where(
                t_reminder.c.plan_key.in_(wanted_keys[start : start + 1000]),
                t_reminder.c.status == "cancelled",
                t_reminder.c.suppressed_reason == "satisfied",
            )
            .values(status="pending", suppressed_reason=None),
            execution_options={"synchronize_session": False},
        )
        revived += int(cast(CursorResult[Any], result).rowcount or 0)
    return rows, revived


def _recall_due(every: str, anchor: datetime, timezone: str, until: datetime) -> datetime | None:
    """The recall's due instant: ``every`` after ``anchor``; for an RRULE the latest occurrence up to ``until``."""
    parsed = parse_every(every)
    first = parsed.next_after(anchor, timezone)
    if first > until:
        return None
    if parsed.rule is None:
        return first
    tz = zone(timezone)
    local_until = until.astimezone(tz).replace(tzinfo=None)
    local_anchor = anchor.astimezone(tz).replace(tzinfo=None)
    latest = recurrence(parsed.rule, local_anchor).before(local_until, inc=True)
    if latest is None or latest <= local_anchor:
        return first
    return latest.replace(tzinfo=tz).astimezone(UTC)


def _chunks(values: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


# --- birthdays and greetings -------------------------------------------------------------------------------------


def _local_day_bounds(day: date, timezone: str) -> datetime:
    """The instant the local day after ``day`` begins (when a greeting of ``day`` expires)."""
    return local_instants(day + timedelta(days=1), time(0), timezone)[0]


def _days(now: datetime, until: datetime, timezone: str) -> list[date]:
    tz = zone(timezone)
    first, last = now.astimezone(tz).date(), until.astimezone(tz).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _birthday_on(born: date, year: int) -> date | None:
    if born.year >= year:
        return None
    try:
        return born.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)


def _birthdays(session: Session, now: datetime, until: datetime) -> list[dict[str, Any]]:
    query = (
        select(t_patient.c.id, t_patient.c.clinic_id, t_patient.c.birth_date, t_patient.c.timezone)
        .join(t_clinic, t_clinic.c.id == t_patient.c.clinic_id)
        .where(t_patient.c.birth_date.is_not(None), t_clinic.c.birthday_greetings.is_(True))
    )
    span = (until - now).days + 2
    if span <= 62:
        days = [(now - timedelta(days=1)).date() + timedelta(days=n) for n in range(span + 2)]
        pairs = {(d.month, d.day) for d in days}
        if (2, 28) in pairs:
            pairs.add((2, 29))
        month, day = extract("month", t_patient.c.birth_date), extract("day", t_patient.c.birth_date)
        query = query.where(or_(*((month == m) & (day == d) for m, d in sorted(pairs))))
    rows: list[dict[str, Any]] = []
    for patient_id, clinic_id, born, timezone in session.execute(query):
        for local_day in _days(now, until, timezone):
            if _birthday_on(born, local_day.year) != local_day:
                continue
            due = local_instants(local_day, BIRTHDAY_LOCAL_TIME, timezone)[0]
            if due > until:
                continue
            rows.append(
                _row(
                    clinic_id=clinic_id,
                    patient_id=patient_id,
                    kind="birthday",
                    purpose="marketing",
                    due_at=due,
                    expires_at=_local_day_bounds(local_day, timezone),
                    plan_key=f"birthday:{patient_id}:{local_day.year}",
                    now=now,
                )
            )
    return rows


def _greetings(session: Session, now: datetime, until: datetime) -> list[dict[str, Any]]:
    greetings = session.execute(select(Greeting).where(t_greeting.c.active.is_(True))).scalars().all()
    if not greetings:
        return []
    by_clinic: dict[int, list[Greeting]] = defaultdict(list)
    for greeting in greetings:
        by_clinic[greeting.clinic_id].append(greeting)
    rows: list[dict[str, Any]] = []
    for clinic_id, clinic_greetings in by_clinic.items():
        patients_by_zone: dict[str, list[int]] = defaultdict(list)
        for patient_id, timezone in session.execute(
            select(t_patient.c.id, t_patient.c.timezone)
            .where(t_patient.c.clinic_id == clinic_id)
            .order_by(t_patient.c.id)
        ):
            patients_by_zone[timezone].append(patient_id)
        for timezone, patient_ids in patients_by_zone.items():
            for local_day in _days(now, until, timezone):
                for greeting in clinic_greetings:
                    if (local_day.month, local_day.day) != (greeting.month, greeting.day):
                        continue
                    if greeting.starts_on is not None and local_day < greeting.starts_on:
                        continue
                    minutes = greeting.local_time_minutes
                    due = local_instants(local_day, time(minutes // 60, minutes % 60), timezone)[0]
                    if due > until:
                        continue
                    expires = _local_day_bounds(local_day, timezone)
                    rows.extend(
                        _row(
                            clinic_id=clinic_id,
                            patient_id=patient_id,
                            kind=greeting.kind,
                            purpose="marketing",
                            due_at=due,
                            expires_at=expires,
                            plan_key=f"greeting:{greeting.id}:{local_day.year}:{patient_id}",
                            payload={"template": "greeting"},
                            now=now,
                        )
                        for patient_id in patient_ids
                    )
    return rows


# --- community events -------------------------------------------------------------------------------------------


def _event_reminders(session: Session, now: datetime, until: datetime) -> list[dict[str, Any]]:
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
            _row(
                clinic_id=event.clinic_id,
                patient_id=patient_id,
                kind="event_reminder",
                purpose="care",
                due_at=event.starts_at - EVENT_REMINDER_BEFORE,
                expires_at=event.starts_at,
                plan_key=reminder_key(event_id, int(registration_id or 0), event.reschedules),
                payload=snapshots[event_id],
                now=now,
            )
        )
    return rows
