"""Use cases of visits: book, move through the status machine, read history and clinic measures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from statistics import median

from sqlalchemy import Engine, case, func, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import owns_read, reads, sessionless
from clinic_crm.db.detached import DetachedQuery
from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.models import VISIT_STATUSES, VISIT_TRANSITIONS, Clinic, Patient, Reminder, Visit
from clinic_crm.services._common import MAX_ID, get_or_404, not_found, optional_text, require_text
from clinic_crm.services.aggregates import check_interval
from clinic_crm.values import aware, check_choice, utc

__all__ = [
    "book_visit",
    "get_visit",
    "cancel_visit_reminders",
    "check_in",
    "start_care",
    "complete",
    "cancel",
    "mark_no_show",
    "list_visits",
    "reschedule",
    "visit_history",
    "VisitStats",
    "visit_stats",
]


def book_visit(
    session: Session,
    patient_id: int,
    *,
    starts_at: datetime,
    kind: str,
    practitioner: str | None = None,
    now: datetime | None = None,
) -> Visit:
    """Book a visit (status ``"booked"``).

    Raises:
        NotFound: no such patient.
        NaiveDatetimeError, ValidationError: malformed input.
    """
    start = aware(starts_at, "starts_at")
    kind = require_text(kind, "kind", max_length=100)
    practitioner = optional_text(practitioner, "practitioner")
    patient = get_or_404(session, Patient, patient_id)
    visit = Visit(
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        starts_at=start,
        kind=kind,
        practitioner=practitioner,
        status="booked",
        created_at=utc(now),
    )
    session.add(visit)
    session.flush()
    return visit


@reads
def get_visit(session: Session, visit_id: int) -> Visit:
    """Return the visit or raise ``NotFound``."""
    return get_or_404(session, Visit, visit_id)


def _move(session: Session, visit_id: int, to: str, at: datetime) -> Visit:
    when = aware(at, "at")
    visit = get_or_404(session, Visit, visit_id, for_update=True)
    if to not in VISIT_TRANSITIONS[visit.status]:
        raise InvalidTransition(
            f"visit {visit_id} is {visit.status}; it cannot become {to}", current=visit.status, requested=to
        )
    visit.status = to
    stamp = {
        "checked_in": "checked_in_at",
        "completed": "completed_at",
        "cancelled": "cancelled_at",
        "no_show": "no_show_at",
    }[to]
    setattr(visit, stamp, when)
    if to in ("cancelled", "no_show"):
        cancel_visit_reminders(session, visit_id)
    session.flush()
    return visit


def cancel_visit_reminders(session: Session, visit_id: int) -> int:
    """Cancel the pending reminders attached to a visit; return how many."""
    result = session.execute(
        update(Reminder)
        .where(col(Reminder.visit_id) == visit_id, col(Reminder.status) == "pending")
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def check_in(session: Session, visit_id: int, *, at: datetime) -> Visit:
    """booked → checked_in.  Raises ``InvalidTransition`` from any other status."""
    return _move(session, visit_id, "checked_in", at)


def complete(session: Session, visit_id: int, *, at: datetime) -> Visit:
    """checked_in → completed.  Raises ``InvalidTransition`` from any other status."""
    return _move(session, visit_id, "completed", at)


def cancel(session: Session, visit_id: int, *, at: datetime, reason: str | None = None) -> Visit:
    """booked → cancelled; its pending reminders are cancelled.  Raises ``InvalidTransition`` otherwise."""
    reason = optional_text(reason, "reason", max_length=500)
    visit = _move(session, visit_id, "cancelled", at)
    visit.cancel_reason = reason
    session.flush()
    return visit


def mark_no_show(session: Session, visit_id: int, *, at: datetime) -> Visit:
    """booked → no_show; its pending reminders are cancelled.  Raises ``InvalidTransition`` otherwise."""
    return _move(session, visit_id, "no_show", at)


def start_care(session: Session, visit_id: int, *, at: datetime) -> Visit:
    """Record when care began for a checked-in visit (waiting time = this − check-in); status unchanged.

    Raises:
        InvalidTransition: the visit is not checked in, or care was already started.
        ValidationError: ``at`` is before the check-in.
    """
    when = aware(at, "at")
    visit = get_or_404(session, Visit, visit_id, for_update=True)
    if visit.status != "checked_in" or visit.care_started_at is not None:
        raise InvalidTransition(
            f"care can start only once, on a checked-in visit; visit {visit_id} is {visit.status}",
            current=visit.status,
            requested="care_started",
        )
    assert visit.checked_in_at is not None
    if when < visit.checked_in_at:
        raise ValidationError("at must not be before the check-in", field="at")
    visit.care_started_at = when
    session.flush()
    return visit


@reads
def list_visits(
    session: Session,
    clinic_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
    practitioner: str | None = None,
) -> list[Visit]:
    """A clinic's visits starting in ``[since, until)`` (a day's schedule), earliest first.

    Args:
        since, until: aware bounds on ``starts_at`` (either may be ``None``).
        status: only visits in this status (``"booked"``, ``"checked_in"``, …).
        practitioner: only this practitioner's visits.

    Raises:
        NotFound: no such clinic.
        ValidationError, NaiveDatetimeError: malformed filters.
    """
    start, end = check_interval(since, until)
    conditions = [col(Visit.clinic_id) == clinic_id]
    if status is not None:
        conditions.append(col(Visit.status) == check_choice(status, VISIT_STATUSES, "status"))
    if practitioner is not None:
        conditions.append(col(Visit.practitioner) == require_text(practitioner, "practitioner"))
    if start is not None:
        conditions.append(col(Visit.starts_at) >= start)
    if end is not None:
        conditions.append(col(Visit.starts_at) < end)
    get_or_404(session, Clinic, clinic_id)
    return list(session.scalars(select(Visit).where(*conditions).order_by(col(Visit.starts_at), col(Visit.id))))


def reschedule(session: Session, visit_id: int, *, starts_at: datetime, at: datetime) -> Visit:
    """Move a booked visit to a new start time; its reminders follow it.

    The visit's pending appointment reminders (planned by ``crm.reminders.plan()``) are cancelled and planned
    again for the new time by the next ``plan()``; its other pending reminders move by the same amount as
    the visit.

    Raises:
        NotFound: no such visit.
        InvalidTransition: the visit is not ``"booked"``.
        NaiveDatetimeError, ValidationError: malformed times.
    """
    start = aware(starts_at, "starts_at")
    aware(at, "at")
    visit = get_or_404(session, Visit, visit_id, for_update=True)
    if visit.status != "booked":
        raise InvalidTransition(
            f"only a booked visit can be rescheduled; visit {visit_id} is {visit.status}",
            current=visit.status,
            requested="booked",
        )
    shift = start - visit.starts_at
    pending = (col(Reminder.visit_id) == visit_id, col(Reminder.status) == "pending")
    planned = col(Reminder.plan_key).like("appointment:%")
    # free the plan keys so that plan() makes the appointment reminders of the new time
    session.execute(
        update(Reminder)
        .where(*pending, planned)
        .values(status="cancelled", plan_key=None)
        .execution_options(synchronize_session=False)
    )
    unplanned = or_(col(Reminder.plan_key).is_(None), ~planned)
    for reminder in session.scalars(select(Reminder).where(*pending, unplanned)):
        reminder.due_at = reminder.due_at + shift
        reminder.ready_at = reminder.ready_at + shift
        if reminder.expires_at is not None:
            reminder.expires_at = reminder.expires_at + shift
    visit.starts_at = start
    session.flush()
    return visit


#: Built once: a list call pays for its query and its rows, not for building the statement or loading them.
#: With its parent: the same statement also tells an unknown patient from one without visits (db/detached.py).
_HISTORY = DetachedQuery(
    Visit,
    parent=(Patient, col(Visit.patient_id)),
    missing=not_found,
    order_by=(col(Visit.starts_at).desc(), col(Visit.id).desc()),
)


def _history_without_session(engine: Engine, patient_id: int) -> list[Visit]:
    """:func:`visit_history` as one statement on a pooled driver connection (see ``api._unit.sessionless``)."""
    return _HISTORY.whole(engine, {"patient_id": patient_id})


@sessionless(_history_without_session)
@reads
def visit_history(session: Session, patient_id: int) -> list[Visit]:
    """The patient's visits, newest first.  Raises ``NotFound`` for an unknown patient."""
    if type(patient_id) is not int or not 1 <= patient_id <= MAX_ID:
        get_or_404(session, Patient, patient_id)  # a bad id raises as any lookup's does
    return _HISTORY.all(session, {"patient_id": patient_id}, detached=owns_read(session))


@dataclass(frozen=True, slots=True)
class VisitStats:
    """What a clinic measures about its visits in a period.

    Attributes:
        visits: visits that started in the period, whatever their status.
        completed, cancelled, no_shows: counts by final status.
        no_show_rate: no-shows ÷ (completed + no-shows + checked in), ``None`` when that is 0.
        median_wait_minutes: median of check-in → start of care, over visits with both recorded.
    """

    visits: int
    completed: int
    cancelled: int
    no_shows: int
    no_show_rate: float | None
    median_wait_minutes: float | None


@reads
def visit_stats(session: Session, clinic_id: int, *, since: datetime, until: datetime) -> VisitStats:
    """Counts, no-show rate and median waiting time of visits starting in ``[since, until)``."""
    start, end = aware(since, "since"), aware(until, "until")
    in_period = (col(Visit.clinic_id) == clinic_id, col(Visit.starts_at) >= start, col(Visit.starts_at) < end)
    counts = session.execute(
        select(
            func.count(),
            func.sum(case((col(Visit.status) == "completed", 1), else_=0)),
            func.sum(case((col(Visit.status) == "cancelled", 1), else_=0)),
            func.sum(case((col(Visit.status) == "no_show", 1), else_=0)),
            func.sum(case((col(Visit.status) == "checked_in", 1), else_=0)),
        ).where(*in_period)
    ).one()
    total, completed, cancelled, no_shows, checked_in = (int(v or 0) for v in counts)
    attended_or_missed = completed + no_shows + checked_in
    waits = [
        (started - arrived).total_seconds() / 60
        for arrived, started in session.execute(
            select(col(Visit.checked_in_at), col(Visit.care_started_at)).where(
                *in_period, col(Visit.checked_in_at).is_not(None), col(Visit.care_started_at).is_not(None)
            )
        )
        if started is not None and arrived is not None
    ]
    return VisitStats(
        visits=total,
        completed=completed,
        cancelled=cancelled,
        no_shows=no_shows,
        no_show_rate=(no_shows / attended_or_missed) if attended_or_missed else None,
        median_wait_minutes=median(waits) if waits else None,
    )
