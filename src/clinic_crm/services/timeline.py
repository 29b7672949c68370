"""A patient's whole story in one list: visits, messages with their outcomes, consent changes, survey answers.

What front-desk software shows on a patient's page.  Four set-based reads (one per kind of record), merged in
time order; no message text, no survey link tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.models import ConsentEvent, Invitation, Patient, Reminder, Response, Visit
from clinic_crm.services._common import get_or_404
from clinic_crm.services.audit import record_audit

__all__ = ["TimelineItem", "patient_timeline"]

_VISIT_STAMPS = (
    ("booked", "created_at"),
    ("checked_in", "checked_in_at"),
    ("completed", "completed_at"),
    ("cancelled", "cancelled_at"),
    ("no_show", "no_show_at"),
)


@dataclass(frozen=True, slots=True)
class TimelineItem:
    """One thing that happened to a patient.

    Attributes:
        at: when (aware UTC).
        kind: ``"visit"``, ``"message"``, ``"consent"`` or ``"survey_response"``.
        event: what happened — for a visit ``booked`` / ``checked_in`` / ``completed`` / ``cancelled`` /
            ``no_show``; for a message its status (``sent``, ``suppressed``, ``failed``, ``pending``, …); for
            consent ``granted`` / ``withdrawn``; for a response ``answered``.
        ref: the id of the visit, reminder, consent event or response.
        detail: a few facts without personal data (visit kind and start, message kind/purpose/channel/reason,
            consent channel/purpose/source, survey id).
    """

    at: datetime
    kind: str
    event: str
    ref: int
    detail: dict[str, Any] = field(default_factory=dict)


@reads
def patient_timeline(session: Session, patient_id: int) -> list[TimelineItem]:
    """Everything that happened to a patient, oldest first (ties in the order: visit, message, consent, response).

    A patient read: writes one audit ``read`` event (``{"what": "timeline"}``) like ``patients.get``.

    Raises:
        NotFound: no such patient.
    """
    get_or_404(session, Patient, patient_id)
    record_audit(session, [patient_id], "read", {"what": "timeline"})
    items: list[tuple[datetime, int, int, TimelineItem]] = []

    def add(order: int, item: TimelineItem) -> None:
        items.append((item.at, order, item.ref, item))

    for visit in session.scalars(select(Visit).where(col(Visit.patient_id) == patient_id)):
        facts: dict[str, Any] = {
            "visit_kind": visit.kind,
            "starts_at": visit.starts_at.isoformat(),
            "practitioner": visit.practitioner,
        }
        for event, stamp in _VISIT_STAMPS:
            at = getattr(visit, stamp)
            if at is not None:
                add(0, TimelineItem(at, "visit", event, visit.id, facts))
    for reminder in session.scalars(select(Reminder).where(col(Reminder.patient_id) == patient_id)):
        at = reminder.sent_at or reminder.due_at
        facts = {
            "reminder_kind": reminder.kind,
            "purpose": reminder.purpose,
            "channel": reminder.channel,
            "suppressed_reason": reminder.suppressed_reason,
            "attempts": reminder.attempts,
            "due_at": reminder.due_at.isoformat(),
        }
        add(1, TimelineItem(at, "message", reminder.status, reminder.id, facts))
    for consent in session.scalars(select(ConsentEvent).where(col(ConsentEvent.patient_id) == patient_id)):
        facts = {"channel": consent.channel, "purpose": consent.purpose, "source": consent.source}
        add(2, TimelineItem(consent.at, "consent", "granted" if consent.granted else "withdrawn", consent.id, facts))
    responses = select(Response).join(Invitation, col(Invitation.id) == Response.invitation_id)
    responses = responses.join(Visit, col(Visit.id) == Invitation.visit_id).where(col(Visit.patient_id) == patient_id)
    for response in session.scalars(responses):
        add(
            3,
            TimelineItem(
                response.answered_at, "survey_response", "answered", response.id, {"survey_id": response.survey_id}
            ),
        )
    return [item for *_, item in sorted(items, key=lambda entry: entry[:3])]
