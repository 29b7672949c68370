"""Cases: record one, acknowledge it (optionally telling the patient), resolve, reopen, assign; read and list them.

Every change is one conditional ``UPDATE … WHERE status = <the status read>`` on a row read ``FOR UPDATE``: of two
concurrent moves of one case exactly one wins, the other raises ``InvalidTransition`` (on SQLite, where
``FOR UPDATE`` does nothing, the condition alone decides).  ``text``, ``resolution`` and notes are patient data:
they never reach a log line or an error message.
"""

from __future__ import annotations

import unicodedata
from datetime import datetime
from functools import partial
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, not_, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import actor_of, reads
from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.models import Case, CaseEvent, Clinic, Patient, Visit
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.clinics import clinic_add_working_days
from clinic_crm.services.feedback.policies import stored_targets
from clinic_crm.services.feedback.rules import CHANNELS, KINDS, PRIORITIES, STATUSES, due_time, next_status
from clinic_crm.services.reminders.scheduling import new_reminder
from clinic_crm.values import aware, check_choice, clean_text, utc

__all__ = [
    "TEXT_MAX",
    "ACKNOWLEDGED_KIND",
    "t_case",
    "breached_at",
    "record_case",
    "record_reply",
    "acknowledge_case",
    "resolve_case",
    "reopen_case",
    "assign_case",
    "get_case",
    "case_history",
    "list_cases",
]

#: The longest case text, resolution or note accepted.
TEXT_MAX = 4000
#: The reminder kind of the message telling a patient their case was acknowledged.
ACKNOWLEDGED_KIND = "case_acknowledged"

#: The ``feedback_case`` table (for set-based queries).
t_case = cast(Table, Case.__table__)  # type: ignore[attr-defined]


def _missed_sql(due: Any, done: Any, now: datetime) -> ColumnElement[bool]:
    return and_(due.is_not(None), due < now, or_(done.is_(None), done > due))


def breached_at(now: datetime, table: Table = t_case) -> ColumnElement[bool]:
    """SQL for :func:`clinic_crm.services.feedback.rules.is_breached` on ``table``'s rows (never NULL)."""
    c = table.c
    return or_(
        _missed_sql(c.acknowledge_due_at, c.acknowledged_at, now),
        _missed_sql(c.resolve_due_at, c.resolved_at, now),
        and_(c.missed_before_at.is_not(None), c.missed_before_at < now),
    )


def _text(value: object, field: str) -> str:
    return clean_text(value, field, max_length=TEXT_MAX, allowed_controls="\n\t\r")


def _event(session: Session, case_id: int, kind: str, at: datetime, by: str, note: str | None = None) -> None:
    session.add(CaseEvent(case_id=case_id, at=at, kind=kind, by=by, note=note))


def _open(
    session: Session,
    clinic: Clinic,
    *,
    kind: str,
    channel: str,
    text: str,
    at: datetime,
    patient_id: int | None,
    visit_id: int | None,
    priority: str,
) -> Case:
    """Add a checked case with the deadlines of the policy in force now, and its ``recorded`` event."""
    assert clinic.id is not None
    acknowledge_within, resolve_within = stored_targets(session, clinic.id, kind, priority)
    add_days = partial(clinic_add_working_days, session, clinic)
    case = Case(
        clinic_id=clinic.id,
        patient_id=patient_id,
        visit_id=visit_id,
        kind=kind,
        channel=channel,
        priority=priority,
        text=text,
        status="open",
        received_at=at,
        acknowledge_due_at=due_time(at, acknowledge_within, add_days),
        resolve_due_at=due_time(at, resolve_within, add_days),
        acknowledge_within=acknowledge_within,
        resolve_within=resolve_within,
    )
    session.add(case)
    session.flush()
    assert case.id is not None
    _event(session, case.id, "recorded", at, actor_of(session))
    session.flush()
    return case


def record_case(
    session: Session,
    clinic_id: int,
    *,
    kind: str,
    channel: str,
    text: str,
    at: datetime,
    patient_id: int | None = None,
    visit_id: int | None = None,
    priority: str = "normal",
) -> Case:
    """Record a complaint, question, suggestion or compliment (status ``"open"``).

    Its deadlines come from the clinic's policy for ``(kind, priority)`` in force now (see ``set_policy``;
    the contract's defaults when none was set), counted from ``at``.

    Args:
        kind: ``"complaint"``, ``"question"``, ``"suggestion"`` or ``"compliment"``.
        channel: ``"front_desk"``, ``"phone"``, ``"email"``, ``"sms"``, ``"web"``, ``"survey"`` or ``"review"``.
        text: what the patient said (at most 4000 characters; patient data, never logged).
        at: when it was received (aware).
        patient_id, visit_id: the patient and the visit it is about, when known (of this clinic).
        priority: ``"normal"`` or ``"urgent"``.

    Returns:
        The new :class:`~clinic_crm.models.Case`.

    Raises:
        NotFound: no such clinic, patient or visit.
        ValidationError: unknown kind, channel or priority; empty or too long text; a patient or visit of another
            clinic, or a visit of another patient.
        NaiveDatetimeError: ``at`` is naive.
    """
    kind = check_choice(kind, KINDS, "kind")
    channel = check_choice(channel, CHANNELS, "channel")
    priority = check_choice(priority, PRIORITIES, "priority")
    checked_text = _text(text, "text")
    when = aware(at, "at")
    clinic = get_or_404(session, Clinic, clinic_id)
    if patient_id is not None:
        patient = get_or_404(session, Patient, patient_id)
        if patient.clinic_id != clinic_id:
            raise ValidationError("patient_id belongs to another clinic", field="patient_id")
    if visit_id is not None:
        visit = get_or_404(session, Visit, visit_id)
        if visit.clinic_id != clinic_id:
            raise ValidationError("visit_id belongs to another clinic", field="visit_id")
        if patient_id is not None and visit.patient_id != patient_id:
            raise ValidationError("visit_id belongs to another patient", field="visit_id")
    return _open(
        session,
        clinic,
        kind=kind,
        channel=channel,
        text=checked_text,
        at=when,
        patient_id=patient_id,
        visit_id=visit_id,
        priority=priority,
    )


def record_reply(session: Session, clinic: Clinic, *, phone: str, text: str, at: datetime) -> Case | None:
    """Record an SMS reply that is not an opt-out as a ``"question"`` case (channel ``"sms"``).

    The patient is set when exactly one patient of the clinic has the number ``phone`` (E.164).  The text is
    kept as received, without control characters and cut at 4000 characters; a blank reply records no case.

    Returns:
        The new case, or ``None`` for a blank reply.
    """
    cleaned = "".join(
        ch for ch in unicodedata.normalize("NFC", text) if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs")
    ).strip()[:TEXT_MAX]
    if not cleaned:
        return None
    owners = session.scalars(
        select(col(Patient.id)).where(col(Patient.clinic_id) == clinic.id, col(Patient.phone) == phone).limit(2)
    ).all()
    return _open(
        session,
        clinic,
        kind="question",
        channel="sms",
        text=cleaned,
        at=at,
        patient_id=owners[0] if len(owners) == 1 else None,
        visit_id=None,
        priority="normal",
    )


def _move(session: Session, case: Case, action: str, values: dict[str, Any]) -> None:
    """Apply a status move as one conditional UPDATE (the status must still be the one read)."""
    current = case.status
    values["status"] = next_status(current, action)
    result = session.execute(
        update(Case)
        .where(col(Case.id) == case.id, col(Case.status) == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(case)
        raise InvalidTransition(
            f"case {case.id} changed meanwhile; it is now {case.status}",
            current=case.status,
            requested=values["status"],
        )
    session.refresh(case)


def _not_before(when: datetime, earliest: datetime | None, what: str) -> None:
    if earliest is not None and when < earliest:
        raise ValidationError(f"at is before the case was {what}", field="at")


def acknowledge_case(
    session: Session,
    case_id: int,
    *,
    at: datetime,
    by: str,
    note: str | None = None,
    notify: bool = False,
) -> Case:
    """Acknowledge an open case (open → acknowledged).

    Args:
        at: when it was acknowledged (aware; not before it was received).
        by: the member of staff acknowledging it.
        note: an internal note kept in the history.
        notify: also tell the patient (when the case has one): a care reminder of kind ``"case_acknowledged"``,
            due ``at``, in the patient's language — "we received your message and will answer by <date>" (the
            resolve due time; without one, "as soon as we can").  It is sent by ``crm.reminders.dispatch`` like
            any reminder (consent, quiet hours, pauses).  The patient's text is not in the message.

    Returns:
        The case.

    Raises:
        NotFound: no such case.
        InvalidTransition: the case is not open.
        ValidationError: empty ``by``, ``at`` before the case was received, ``notify`` not a bool.
        NaiveDatetimeError: ``at`` is naive.
    """
    when = aware(at, "at")
    who = require_text(by, "by")
    text = None if note is None else _text(note, "note")
    if not isinstance(notify, bool):
        raise ValidationError("notify must be True or False", field="notify")
    case = get_or_404(session, Case, case_id, for_update=True)
    next_status(case.status, "acknowledge")
    _not_before(when, case.received_at, "received")
    _move(session, case, "acknowledge", {"acknowledged_at": when})
    _event(session, case_id, "acknowledged", when, who, text)
    if notify and case.patient_id is not None:
        payload: dict[str, Any] = {"template": ACKNOWLEDGED_KIND + "_undated", "case_id": case_id}
        if case.resolve_due_at is not None:
            payload = {"template": ACKNOWLEDGED_KIND, "case_id": case_id, "date_at": case.resolve_due_at.isoformat()}
        new_reminder(
            session,
            case.patient_id,
            kind=ACKNOWLEDGED_KIND,
            purpose="care",
            due_at=when,
            payload=payload,
            plan_key=f"feedback_case:{case_id}:acknowledged",
            now=when,
        )
    session.flush()
    return case


def resolve_case(session: Session, case_id: int, *, at: datetime, by: str, resolution: str) -> Case:
    """Resolve a case (open or acknowledged → resolved); from open it is acknowledged at the same time.

    Args:
        at: when it was resolved (aware; not before it was received or acknowledged).
        by: the member of staff resolving it.
        resolution: what was done (at most 4000 characters).

    Returns:
        The case.

    Raises:
        NotFound: no such case.
        InvalidTransition: the case is already resolved.
        ValidationError: empty ``by`` or ``resolution``; ``at`` too early.
        NaiveDatetimeError: ``at`` is naive.
    """
    when = aware(at, "at")
    who = require_text(by, "by")
    text = _text(resolution, "resolution")
    case = get_or_404(session, Case, case_id, for_update=True)
    next_status(case.status, "resolve")
    _not_before(when, case.received_at, "received")
    _not_before(when, case.acknowledged_at, "acknowledged")
    values: dict[str, Any] = {"resolved_at": when, "resolution": text}
    from_open = case.status == "open"
    if from_open:
        values["acknowledged_at"] = when
    _move(session, case, "resolve", values)
    if from_open:
        _event(session, case_id, "acknowledged", when, who)
    _event(session, case_id, "resolved", when, who, text)
    session.flush()
    return case


def reopen_case(session: Session, case_id: int, *, at: datetime, by: str, reason: str) -> Case:
    """Reopen a resolved case (resolved → acknowledged) with a new resolve deadline counted from ``at``.

    The deadline follows the policy in force when the case was recorded.  ``resolved_at`` and ``resolution`` are
    cleared; a case whose resolution came late stays breached.

    Args:
        at: when it was reopened (aware; not before it was resolved).
        by: the member of staff reopening it.
        reason: why (at most 4000 characters; kept in the history).

    Returns:
        The case.

    Raises:
        NotFound: no such case.
        InvalidTransition: the case is not resolved.
        ValidationError: empty ``by`` or ``reason``; ``at`` before the resolution.
        NaiveDatetimeError: ``at`` is naive.
    """
    when = aware(at, "at")
    who = require_text(by, "by")
    text = _text(reason, "reason")
    case = get_or_404(session, Case, case_id, for_update=True)
    next_status(case.status, "reopen")
    _not_before(when, case.resolved_at, "resolved")
    clinic = get_or_404(session, Clinic, case.clinic_id)
    values: dict[str, Any] = {
        "resolved_at": None,
        "resolution": None,
        "resolve_due_at": due_time(when, case.resolve_within, partial(clinic_add_working_days, session, clinic)),
    }
    late = case.resolve_due_at is not None and case.resolved_at is not None and case.resolved_at > case.resolve_due_at
    if late and case.missed_before_at is None:
        values["missed_before_at"] = case.resolve_due_at
    _move(session, case, "reopen", values)
    _event(session, case_id, "reopened", when, who, text)
    session.flush()
    return case


def assign_case(session: Session, case_id: int, *, to: str, at: datetime, by: str | None = None) -> Case:
    """Assign a case to a member of staff (in any status; assigning again replaces the assignee).

    Args:
        to: who handles it from now.
        at: when (aware; not before the case was received).
        by: who assigned it (default: the facade's actor, ``ClinicCRM(…, actor=…)``).

    Returns:
        The case.

    Raises:
        NotFound: no such case.
        ValidationError: empty ``to`` or ``by``; ``at`` before the case was received.
        NaiveDatetimeError: ``at`` is naive.
    """
    when = aware(at, "at")
    assignee = require_text(to, "to")
    who = actor_of(session) if by is None else require_text(by, "by")
    case = get_or_404(session, Case, case_id, for_update=True)
    _not_before(when, case.received_at, "received")
    case.assigned_to = assignee
    _event(session, case_id, "assigned", when, who, assignee)
    session.flush()
    return case


@reads
def get_case(session: Session, case_id: int) -> Case:
    """Return the case or raise ``NotFound``."""
    return get_or_404(session, Case, case_id)


@reads
def case_history(session: Session, case_id: int) -> list[CaseEvent]:
    """Every change of a case, oldest first (by time, then id), each with its time, kind and ``by``.

    Raises:
        NotFound: no such case.
    """
    get_or_404(session, Case, case_id)
    query = select(CaseEvent).where(col(CaseEvent.case_id) == case_id).order_by(col(CaseEvent.at), col(CaseEvent.id))
    return list(session.scalars(query))


def list_cases(
    session: Session,
    clinic_id: int,
    *,
    status: str | None = None,
    kind: str | None = None,
    breached: bool | None = None,
    now: datetime | None = None,
) -> list[Case]:
    """The clinic's cases matching every filter given, oldest first (by ``received_at``, then id).

    Args:
        status: ``"open"``, ``"acknowledged"`` or ``"resolved"``.
        kind: ``"complaint"``, ``"question"``, ``"suggestion"`` or ``"compliment"``.
        breached: ``True`` only the cases breached at ``now``, ``False`` only those that are not.  A case is
            breached when a due time is earlier than ``now`` without the act it asks for, or the act came after
            its due time (that stays breached for good, also after a reopening).
        now: the instant ``breached`` is judged at (default now).

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown status or kind; ``breached`` not a bool or None.
        NaiveDatetimeError: ``now`` is naive.
    """
    conditions: list[ColumnElement[bool]] = [t_case.c.clinic_id == clinic_id]
    if status is not None:
        conditions.append(t_case.c.status == check_choice(status, STATUSES, "status"))
    if kind is not None:
        conditions.append(t_case.c.kind == check_choice(kind, KINDS, "kind"))
    if breached is not None and not isinstance(breached, bool):
        raise ValidationError("breached must be True, False or None", field="breached")
    when = utc(now)
    get_or_404(session, Clinic, clinic_id)
    if breached is not None:
        conditions.append(breached_at(when) if breached else not_(breached_at(when)))
    query = select(Case).where(*conditions).order_by(t_case.c.received_at, t_case.c.id)
    return list(session.scalars(query))
