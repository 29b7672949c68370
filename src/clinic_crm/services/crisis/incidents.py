"""Incidents: declare one (pausing reminders, holding posts), keep its append-only timeline, watch its clocks,
close it (lifting its pauses, sending its risks to review)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import Conflict, InvalidTransition, ValidationError
from clinic_crm.models import (
    CRISIS_TYPES,
    INCIDENT_SEVERITIES,
    Alert,
    Case,
    Clinic,
    Incident,
    IncidentRisk,
    Risk,
    TimelineEntry,
)
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.aggregates import optional_id
from clinic_crm.services.crisis.rules import check_ids, first_statement_due
from clinic_crm.services.reminders.pauses import check_purposes, lift_incident_pauses, pause_for_incident
from clinic_crm.services.reputation.alerts import escalate_alert
from clinic_crm.values import aware, check_choice, utc

__all__ = [
    "INCIDENT_STATUSES",
    "add_entry",
    "declare_incident",
    "log_note",
    "timeline",
    "overdue_incidents",
    "close_incident",
    "list_incidents",
    "get_incident",
]

INCIDENT_STATUSES = ("open", "closed")
_TEXT_MAX = 4000


def add_entry(session: Session, incident_id: int, *, at: datetime, kind: str, by: str, text: str) -> TimelineEntry:
    """Append one entry to an incident's timeline (the only way one is written; none is ever changed)."""
    entry = TimelineEntry(incident_id=incident_id, at=at, kind=kind, by=by, text=text[:_TEXT_MAX])
    session.add(entry)
    return entry


def _risk_ids(session: Session, clinic_id: int, risk_ids: object) -> list[int]:
    ids = check_ids(risk_ids, "risk_ids")
    if ids:
        found = set(
            session.scalars(select(col(Risk.id)).where(col(Risk.id).in_(ids), col(Risk.clinic_id) == clinic_id)).all()
        )
        if len(found) != len(ids):
            raise ValidationError("risk_ids names a risk that is not in this clinic's register", field="risk_ids")
    return ids


def declare_incident(
    session: Session,
    clinic_id: int,
    *,
    title: str,
    crisis_type: str,
    at: datetime,
    by: str,
    severity: str = "major",
    drill: bool = False,
    pause: Iterable[str] = ("marketing",),
    risk_ids: Iterable[int] = (),
    case_id: int | None = None,
    alert_id: int | None = None,
) -> Incident:
    """Declare an incident (status ``"open"``); the first statement is due 2 hours after ``at``.

    Unless it is a drill, the clinic's reminders of the purposes in ``pause`` are held until it closes (the
    incident owns these pauses), and the clinic's scheduled posts that fall due while it is open are held.
    A drill pauses and publishes nothing outside; everything else works as for a real incident.
    The timeline starts with ``"declared"`` (and ``"paused"`` when something was paused).

    Args:
        crisis_type: one of ``"data_breach" | "medical_error" | "infection" | "public_accident" |
            "service_outage" | "negative_publicity" | "other"``.
        severity: ``"minor" | "major" | "critical"``.
        pause: purposes (``"marketing"``, ``"care"``) to pause; ``()`` pauses nothing.
        risk_ids: risks of the clinic's register this incident is about (due for review when it closes).
        case_id, alert_id: the feedback case or reputation alert it started from.

    Raises:
        NotFound: no such clinic, case or alert.
        ValidationError: empty title or by, unknown crisis type, severity or purpose, a risk, case or alert of
            another clinic.
        Conflict: the alert was already dismissed or escalated.
        NaiveDatetimeError: ``at`` is naive.
    """
    title = require_text(title, "title", max_length=300)
    crisis_type = check_choice(crisis_type, CRISIS_TYPES, "crisis_type")
    severity = check_choice(severity, INCIDENT_SEVERITIES, "severity")
    if not isinstance(drill, bool):
        raise ValidationError("drill must be True or False", field="drill")
    when = aware(at, "at")
    by = require_text(by, "by")
    purposes = check_purposes(pause, allow_empty=True, field="pause")
    case_id = optional_id(case_id, "case_id")
    alert_id = optional_id(alert_id, "alert_id")
    get_or_404(session, Clinic, clinic_id, for_update=True)
    if case_id is not None and get_or_404(session, Case, case_id).clinic_id != clinic_id:
        raise ValidationError(f"case {case_id} belongs to another clinic", field="case_id")
    if alert_id is not None:
        alert = get_or_404(session, Alert, alert_id)
        if alert.clinic_id != clinic_id:
            raise ValidationError(f"alert {alert_id} belongs to another clinic", field="alert_id")
        if alert.status != "open":
            raise Conflict(f"alert {alert_id} is {alert.status}; only an open alert can start an incident")
    linked = _risk_ids(session, clinic_id, risk_ids)
    incident = Incident(
        clinic_id=clinic_id,
        title=title,
        crisis_type=crisis_type,
        severity=severity,
        drill=drill,
        status="open",
        declared_at=when,
        declared_by=by,
        first_statement_due_at=first_statement_due(when),
        case_id=case_id,
        alert_id=alert_id,
    )
    session.add(incident)
    session.flush()
    assert incident.id is not None
    session.add_all(IncidentRisk(incident_id=incident.id, risk_id=rid) for rid in linked)
    label = "drill" if drill else "incident"
    add_entry(
        session, incident.id, at=when, kind="declared", by=by, text=f"{label} declared: {crisis_type}, {severity}"
    )
    if purposes and not drill:
        pause_for_incident(session, clinic_id, purposes=purposes, incident_id=incident.id, at=when)
        add_entry(session, incident.id, at=when, kind="paused", by=by, text=f"reminders paused: {', '.join(purposes)}")
    if alert_id is not None:
        escalate_alert(session, alert_id, incident_id=incident.id, at=when)
    session.flush()
    return incident


def log_note(session: Session, incident_id: int, *, at: datetime, by: str, text: str) -> TimelineEntry:
    """Add a ``"note"`` to the incident's timeline (open or closed).

    Raises:
        NotFound: no such incident.
        ValidationError: empty ``by`` or ``text``.
        NaiveDatetimeError: ``at`` is naive.
    """
    when = aware(at, "at")
    by = require_text(by, "by")
    text = require_text(text, "text", max_length=_TEXT_MAX)
    get_or_404(session, Incident, incident_id)
    entry = add_entry(session, incident_id, at=when, kind="note", by=by, text=text)
    session.flush()
    return entry


@reads
def timeline(session: Session, incident_id: int) -> list[TimelineEntry]:
    """The incident's timeline, oldest first (entries at the same instant in the order they were written).

    Raises:
        NotFound: no such incident.
    """
    get_or_404(session, Incident, incident_id)
    query = select(TimelineEntry).where(col(TimelineEntry.incident_id) == incident_id)
    return list(session.scalars(query.order_by(col(TimelineEntry.at), col(TimelineEntry.id))))


@reads
def overdue_incidents(session: Session, *, clinic_id: int | None = None, now: datetime | None = None) -> list[Incident]:
    """Open, non-drill incidents past ``first_statement_due_at`` without a first statement, or past
    ``next_update_due_at``; oldest declared first.

    Raises:
        ValidationError: ``clinic_id`` not an integer.
        NaiveDatetimeError: ``now`` is naive.
    """
    when = utc(now)
    clinic_id = optional_id(clinic_id, "clinic_id")
    i = Incident
    query = select(i).where(
        col(i.status) == "open",
        col(i.drill).is_(False),
        or_(
            and_(col(i.first_statement_at).is_(None), col(i.first_statement_due_at) < when),
            col(i.next_update_due_at) < when,
        ),
    )
    if clinic_id is not None:
        query = query.where(col(i.clinic_id) == clinic_id)
    return list(session.scalars(query.order_by(col(i.declared_at), col(i.id))))


def close_incident(session: Session, incident_id: int, *, at: datetime, by: str, summary: str) -> Incident:
    """Close an incident: lift the pauses it made, make every linked risk due for review at ``at``.

    A purpose stays paused while another open incident or a manual ``crm.reminders.pause`` holds it.  Posts
    held while it was open stay held until released (``crm.posts.release``).  The timeline gets ``"closed"``.

    Raises:
        NotFound: no such incident.
        ValidationError: empty ``by`` or ``summary``.
        NaiveDatetimeError: ``at`` is naive.
        InvalidTransition: it is already closed.
    """
    when = aware(at, "at")
    by = require_text(by, "by")
    summary = require_text(summary, "summary", max_length=_TEXT_MAX)
    incident = get_or_404(session, Incident, incident_id, for_update=True)
    if incident.status != "open":
        raise InvalidTransition(
            f"incident {incident_id} is already closed", current=incident.status, requested="closed"
        )
    get_or_404(session, Clinic, incident.clinic_id, for_update=True)  # serialises pause changes of the clinic
    incident.status, incident.closed_at, incident.closed_by, incident.summary = "closed", when, by, summary
    freed = lift_incident_pauses(session, incident.clinic_id, incident_id=incident_id, at=when)
    linked = select(col(IncidentRisk.risk_id)).where(col(IncidentRisk.incident_id) == incident_id)
    session.execute(
        update(Risk)
        .where(col(Risk.id).in_(linked.scalar_subquery()), col(Risk.status) == "active")
        .values(next_review_at=when),
        execution_options={"synchronize_session": False},
    )
    text = "closed: " + summary
    if freed:
        text += f" (reminders sending again: {', '.join(freed)})"
    add_entry(session, incident_id, at=when, kind="closed", by=by, text=text)
    session.flush()
    return incident


@reads
def list_incidents(session: Session, clinic_id: int, *, status: str | None = None) -> list[Incident]:
    """The clinic's incidents (drills included), newest declared first; ``status`` ``"open"`` or ``"closed"``.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown status.
    """
    query = select(Incident).where(col(Incident.clinic_id) == clinic_id)
    if status is not None:
        query = query.where(col(Incident.status) == check_choice(status, INCIDENT_STATUSES, "status"))
    get_or_404(session, Clinic, clinic_id)
    return list(session.scalars(query.order_by(col(Incident.declared_at).desc(), col(Incident.id).desc())))


@reads
def get_incident(session: Session, incident_id: int) -> Incident:
    """Return the incident or raise ``NotFound``."""
    return get_or_404(session, Incident, incident_id)
