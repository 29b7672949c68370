"""Sign-ups for an event: register (seats or the waitlist), cancel (with promotion), check in, list.

Every call that changes seats first locks the event row — ``SELECT … FOR UPDATE`` on PostgreSQL; on SQLite
the transaction already holds the database's write lock (``BEGIN IMMEDIATE``) — so concurrent sign-ups from
threads, processes or machines are serialised per event and never overbook.  ``Event.seats_taken`` is the
count of seats held, kept under that lock.  Registration ids are handed out under the lock too, so the id
order of an event's registrations is the order they came.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import Conflict, InvalidTransition, ValidationError
from clinic_crm.models import Event, Patient, Registration
from clinic_crm.models.events import REGISTRATION_STATUSES
from clinic_crm.services._common import get_or_404
from clinic_crm.services.events._rules import cancel_pending, check_seats, registration_prefix
from clinic_crm.values import aware, check_choice

__all__ = [
    "register",
    "cancel_registration",
    "check_in",
    "list_registrations",
    "locked_event",
    "promote_waitlisted",
]


def locked_event(session: Session, event_id: int) -> Event:
    """The event, its row locked for the rest of the transaction (``NotFound`` when there is none).

    Re-read once locked: an object the session already held (``crm.transaction()``, ``crm.bind``) may be older
    than the row, and the seats must be counted from the row.
    """
    event = get_or_404(session, Event, event_id, for_update=True)
    session.refresh(event)
    return event


def _scheduled(event: Event, doing: str) -> None:
    if event.status != "scheduled":
        raise Conflict(f"cannot {doing}: event {event.id} is {event.status}")


def register(session: Session, event_id: int, *, patient_id: int, at: datetime, seats: int = 1) -> Registration:
    """Sign a patient up for an event: ``"registered"`` when the seats fit, else ``"waitlisted"``.

    First come, first served: a registration is waitlisted when its seats would exceed the capacity or when
    anyone is already waiting.  Concurrent registrations never overbook (the event row is locked).

    Args:
        event_id: the event.
        patient_id: a patient of the event's clinic.
        at: when the patient signed up (``registered_at``).
        seats: how many seats (the patient and companions), 1 to 100.

    Returns:
        The registration (``status`` ``"registered"`` or ``"waitlisted"``).

    Raises:
        NotFound: no such event or patient.
        ValidationError: the patient belongs to another clinic (``field="patient_id"``); ``seats`` not an
            integer from 1 to 100, or more than the event's capacity (``field="seats"``).
        NaiveDatetimeError: ``at`` is naive.
        Conflict: the event is cancelled or closed; the patient already holds a registration that is not cancelled.
    """
    registered_at = aware(at, "at")
    seats = check_seats(seats)
    patient = get_or_404(session, Patient, patient_id)
    event = locked_event(session, event_id)
    if patient.clinic_id != event.clinic_id:
        raise ValidationError("patient_id belongs to another clinic than the event", field="patient_id")
    _scheduled(event, "register")
    if event.capacity is not None and seats > event.capacity:
        raise ValidationError(f"seats must not exceed the event's capacity ({event.capacity})", field="seats")
    current = session.execute(
        select(col(Registration.id)).where(
            col(Registration.event_id) == event_id,
            col(Registration.patient_id) == patient_id,
            col(Registration.status) != "cancelled",
        )
    ).first()
    if current is not None:
        raise Conflict(f"patient {patient_id} is already registered for event {event_id} (registration {current[0]})")
    waiting = session.execute(
        select(col(Registration.id))
        .where(col(Registration.event_id) == event_id, col(Registration.status) == "waitlisted")
        .limit(1)
    ).first()
    fits = event.capacity is None or event.seats_taken + seats <= event.capacity
    status = "registered" if fits and waiting is None else "waitlisted"
    if status == "registered":
        event.seats_taken += seats
    registration = Registration(
        event_id=event_id, patient_id=patient_id, seats=seats, status=status, registered_at=registered_at
    )
    session.add(registration)
    session.flush()
    return registration


def promote_waitlisted(session: Session, event: Event, at: datetime) -> list[Registration]:
    """Move waitlisted registrations onto free seats in the order they came, stopping at the first that does not fit.

    The caller holds the event's lock.  Returns the registrations promoted.
    """
    promoted: list[Registration] = []
    waiting = session.execute(
        select(Registration)
        .where(col(Registration.event_id) == event.id, col(Registration.status) == "waitlisted")
        .order_by(col(Registration.id))
        .execution_options(populate_existing=True)
    ).scalars()
    for registration in waiting:
        if event.capacity is not None and event.seats_taken + registration.seats > event.capacity:
            break
        registration.status = "registered"
        registration.promoted_at = at
        event.seats_taken += registration.seats
        promoted.append(registration)
    session.flush()
    return promoted


def _locked_registration(session: Session, registration_id: int) -> tuple[Registration, Event]:
    """The registration, re-read after its event's row is locked (so its status is the committed one)."""
    registration = get_or_404(session, Registration, registration_id)
    event = locked_event(session, registration.event_id)
    session.refresh(registration)
    return registration, event


def cancel_registration(session: Session, registration_id: int, *, at: datetime) -> Registration:
    """Cancel a registration: its seats are freed and waitlisted registrations promoted in the order they came.

    Promotion stops at the first waitlisted registration whose seats do not fit.  The registration's pending
    event reminders are cancelled.

    Returns:
        The registration, ``status == "cancelled"``.

    Raises:
        NotFound: no such registration.
        NaiveDatetimeError: ``at`` is naive.
        InvalidTransition: it is not ``registered`` or ``waitlisted``.
        Conflict: the event is cancelled or closed.
    """
    cancelled_at = aware(at, "at")
    registration, event = _locked_registration(session, registration_id)
    if registration.status not in ("registered", "waitlisted"):
        raise InvalidTransition(
            f"registration {registration_id} is {registration.status}",
            current=registration.status,
            requested="cancelled",
        )
    _scheduled(event, "cancel a registration")
    held = registration.status == "registered"
    registration.status = "cancelled"
    registration.cancelled_at = cancelled_at
    cancel_pending(session, registration_prefix(event.id or 0, registration_id), "registration_cancelled")
    if held:
        event.seats_taken -= registration.seats
        promote_waitlisted(session, event, cancelled_at)
    session.flush()
    return registration


def check_in(session: Session, registration_id: int, *, at: datetime) -> Registration:
    """Record that a registered patient came: ``"registered"`` → ``"attended"``.

    Raises:
        NotFound: no such registration.
        NaiveDatetimeError: ``at`` is naive.
        InvalidTransition: the registration is not ``registered`` (waitlisted, cancelled, attended, no-show).
        Conflict: the event is cancelled or closed.
    """
    checked_in_at = aware(at, "at")
    registration, event = _locked_registration(session, registration_id)
    if registration.status != "registered":
        raise InvalidTransition(
            f"registration {registration_id} is {registration.status}; only a registered one can check in",
            current=registration.status,
            requested="attended",
        )
    _scheduled(event, "check in")
    registration.status = "attended"
    registration.checked_in_at = checked_in_at
    session.flush()
    return registration


@reads
def list_registrations(session: Session, event_id: int, *, status: str | None = None) -> list[Registration]:
    """The event's registrations in the order they came (optionally only those with ``status``).

    Raises:
        NotFound: no such event.
        ValidationError: ``status`` is not a registration status (``field="status"``).
    """
    get_or_404(session, Event, event_id)
    query = select(Registration).where(col(Registration.event_id) == event_id).order_by(col(Registration.id))
    if status is not None:
        query = query.where(col(Registration.status) == check_choice(status, REGISTRATION_STATUSES, "status"))
    return list(session.execute(query).scalars())
