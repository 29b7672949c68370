"""Validation of event inputs and the plan keys that tie reminders to an event (one home for each)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import case, update
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.errors import ValidationError
from clinic_crm.models import Event, Reminder
from clinic_crm.values import check_locale, clean_text

__all__ = [
    "TITLE_MAX",
    "LOCATION_MAX",
    "MAX_CAPACITY",
    "MAX_SEATS",
    "check_title",
    "check_location",
    "check_capacity",
    "check_seats",
    "invitation_key",
    "registration_prefix",
    "reminder_key",
    "changed_key",
    "cancelled_key",
    "event_prefix",
    "cancel_pending",
    "refresh_pending",
]

TITLE_MAX = 300
LOCATION_MAX = 300
#: The largest capacity an event may have.
MAX_CAPACITY = 100_000
#: The most seats one registration may take.
MAX_SEATS = 100


def check_title(value: object) -> str | dict[str, str]:
    """A title: non-empty text, or a non-empty ``{locale: text}`` dict of Babel locale ids."""
    if isinstance(value, str):
        return clean_text(value, "title", max_length=TITLE_MAX)
    if isinstance(value, Mapping) and value:
        return {
            check_locale(locale, "title"): clean_text(text, "title", max_length=TITLE_MAX)
            for locale, text in value.items()
        }
    raise ValidationError("title must be a non-empty str or a {locale: str} dict", field="title")


def check_location(value: object) -> str:
    """Where the event takes place: non-empty text of at most 300 characters."""
    return clean_text(value, "location", max_length=LOCATION_MAX)


def check_capacity(value: object) -> int | None:
    """``None`` (unlimited) or a whole number of seats from 1 to :data:`MAX_CAPACITY`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_CAPACITY:
        raise ValidationError(f"capacity must be None or an integer from 1 to {MAX_CAPACITY}", field="capacity")
    return value


def check_seats(value: object) -> int:
    """The seats one registration takes: an integer from 1 to :data:`MAX_SEATS`."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_SEATS:
        raise ValidationError(f"seats must be an integer from 1 to {MAX_SEATS}", field="seats")
    return value


# Every reminder about an event carries a plan key starting "event:<event id>:", so the reminders of an
# event, or of one registration, are found (to cancel or refresh them) with one LIKE on the unique key.


def event_prefix(event_id: int) -> str:
    """The plan-key prefix of every reminder about an event."""
    return f"event:{event_id}:"


def registration_prefix(event_id: int, registration_id: int) -> str:
    """The plan-key prefix of the reminders sent because of one registration."""
    return f"event:{event_id}:r{registration_id}:"


def invitation_key(event_id: int, patient_id: int) -> str:
    """The plan key of a patient's invitation (one per patient and event)."""
    return f"event:{event_id}:invite:{patient_id}"


def reminder_key(event_id: int, registration_id: int, reschedules: int) -> str:
    """The plan key of the 24-hour reminder of a registration for the event's current start time."""
    return f"{registration_prefix(event_id, registration_id)}reminder:{reschedules}"


def changed_key(event_id: int, registration_id: int, sequence: int) -> str:
    """The plan key of the notice of a change of time or place (one per change)."""
    return f"{registration_prefix(event_id, registration_id)}changed:{sequence}"


def cancelled_key(event_id: int, registration_id: int) -> str:
    """The plan key of the notice that the event is cancelled."""
    return f"{registration_prefix(event_id, registration_id)}cancelled"


def cancel_pending(session: Session, prefix: str, reason: str, *, kind: str | None = None) -> int:
    """Cancel the pending reminders whose plan key starts with ``prefix`` (one ``UPDATE``); return how many."""
    stmt = update(Reminder).where(col(Reminder.plan_key).like(f"{prefix}%"), col(Reminder.status) == "pending")
    if kind is not None:
        stmt = stmt.where(col(Reminder.kind) == kind)
    result: Any = session.execute(
        stmt.values(status="cancelled", suppressed_reason=reason), execution_options={"synchronize_session": False}
    )
    return int(result.rowcount or 0)


def refresh_pending(session: Session, event: Event, payload: dict[str, Any]) -> None:
    """Give the pending reminders about ``event`` its current snapshot (title, time, place, ``.ics``) and expiry.

    Invitations and 24-hour reminders expire when the event starts, notices of a change when it ends.
    """
    session.execute(
        update(Reminder)
        .where(col(Reminder.plan_key).like(f"{event_prefix(int(event.id or 0))}%"), col(Reminder.status) == "pending")
        .values(
            payload=payload,
            expires_at=case(
                (col(Reminder.kind).in_(("event_invitation", "event_reminder")), event.starts_at),
                else_=event.ends_at,
            ),
        ),
        execution_options={"synchronize_session": False},
    )
