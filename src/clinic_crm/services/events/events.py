"""Events: create, change, cancel and close them, invite patients, and their iCalendar text.

Messages about an event are reminders (``services.reminders``), so dispatch applies consent, quiet hours,
pauses and exactly-once to them.  Each carries a snapshot of the event in its payload (title, start,
location and the ``.ics``) that is refreshed while it is pending, so dispatch renders and attaches it
without a query per message.  Their plan keys start with ``event:<id>:`` (see ``_rules``):

* ``invite`` — one marketing ``"event_invitation"`` per patient and event;
* ``update`` — a change of time or place raises SEQUENCE and sends registered patients a care
  ``"event_changed"`` (due ``at``); a new start cancels their pending 24-hour reminders, which the next
  ``crm.reminders.plan()`` makes again for the new time;
* ``cancel`` — cancels every pending reminder of the event and sends registered patients a care
  ``"event_cancelled"`` (due ``at``) whose ``.ics`` has ``STATUS:CANCELLED``;
* the 24-hour ``"event_reminder"`` is made by ``crm.reminders.plan()`` (``services.reminders.planning``).
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import TypedDict, Unpack

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import Conflict, InvalidTransition, NotFound, ValidationError
from clinic_crm.models import Clinic, Event, Patient, Registration, Reminder
from clinic_crm.models.events import EVENT_KINDS, EVENT_STATUSES
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.events._rules import (
    cancel_pending,
    cancelled_key,
    changed_key,
    check_capacity,
    check_location,
    check_title,
    event_prefix,
    invitation_key,
    refresh_pending,
)
from clinic_crm.services.events.calendar import event_ics, event_snapshot
from clinic_crm.services.events.registrations import locked_event, promote_waitlisted
from clinic_crm.services.reminders.rows import check_contactable, insert_rows, new_key, reminder_values
from clinic_crm.values import aware, check_choice, utc

__all__ = [
    "UNSET",
    "NoOtherFields",
    "create_event",
    "get_event",
    "list_events",
    "update_event",
    "cancel_event",
    "close_event",
    "invite",
    "event_calendar",
]

REASON_MAX = 500


class _Unset(enum.Enum):
    UNSET = "UNSET"


#: "Leave this field as it is" in :func:`update_event`.
UNSET = _Unset.UNSET


class NoOtherFields(TypedDict):
    """No keyword beyond the named ones: a host's type checker rejects any other (PEP 692).

    At run time another keyword is still collected and reported as a ``ValidationError`` naming it.
    """


def _times(starts_at: object, ends_at: object) -> tuple[datetime, datetime]:
    start, end = aware(starts_at, "starts_at"), aware(ends_at, "ends_at")
    if end <= start:
        raise ValidationError("ends_at must be after starts_at", field="ends_at")
    return start, end


def create_event(
    session: Session,
    clinic_id: int,
    *,
    title: str | dict[str, str],
    kind: str,
    starts_at: datetime,
    ends_at: datetime,
    location: str,
    capacity: int | None = None,
    now: datetime | None = None,
) -> Event:
    """Create a community event (status ``"scheduled"``).

    Args:
        clinic_id: the clinic that runs it.
        title: a str, or ``{locale: str}`` (each patient reads the one for their locale).
        kind: ``"health_talk"``, ``"patient_group"``, ``"free_clinic"``, ``"screening"`` or ``"other"``.
        starts_at: when it starts (aware).
        ends_at: when it ends (aware, after ``starts_at``).
        location: where it takes place.
        capacity: the number of seats, or ``None`` for unlimited.
        now: when it was created (default: now).

    Returns:
        The event, with a stable iCalendar ``uid`` and ``sequence`` 0.

    Raises:
        NotFound: no such clinic.
        ValidationError, NaiveDatetimeError: malformed input (``.field`` names it).
    """
    clean_title = check_title(title)
    kind = check_choice(kind, EVENT_KINDS, "kind")
    start, end = _times(starts_at, ends_at)
    place = check_location(location)
    seats = check_capacity(capacity)
    created = utc(now)
    get_or_404(session, Clinic, clinic_id)
    event = Event(
        clinic_id=clinic_id,
        title=clean_title,
        kind=kind,
        starts_at=start,
        ends_at=end,
        location=place,
        capacity=seats,
        seats_taken=0,
        status="scheduled",
        uid=f"{uuid.uuid4()}@clinic-crm",
        sequence=0,
        reschedules=0,
        created_at=created,
        updated_at=created,
    )
    session.add(event)
    session.flush()
    return event


@reads
def get_event(session: Session, event_id: int) -> Event:
    """Return the event or raise ``NotFound``."""
    return get_or_404(session, Event, event_id)


@reads
def list_events(
    session: Session,
    clinic_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    status: str | None = None,
) -> list[Event]:
    """A clinic's events by start time, optionally those starting in ``[since, until)`` or with a ``status``.

    Raises:
        NotFound: no such clinic.
        ValidationError, NaiveDatetimeError: malformed filters.
    """
    query = select(Event).where(col(Event.clinic_id) == clinic_id)
    if since is not None:
        query = query.where(col(Event.starts_at) >= aware(since, "since"))
    if until is not None:
        query = query.where(col(Event.starts_at) < aware(until, "until"))
    if status is not None:
        query = query.where(col(Event.status) == check_choice(status, EVENT_STATUSES, "status"))
    get_or_404(session, Clinic, clinic_id)
    return list(session.execute(query.order_by(col(Event.starts_at), col(Event.id))).scalars())


def _clinic_locale(session: Session, event: Event) -> str:
    return get_or_404(session, Clinic, event.clinic_id).locale


def _notify_registered(session: Session, event: Event, *, kind: str, key: Callable[[int], str], at: datetime) -> int:
    """A care reminder of ``kind`` (due ``at``) to every patient holding a ``registered`` seat."""
    payload = event_snapshot(event, _clinic_locale(session, event))
    seated = session.execute(
        select(col(Registration.id), col(Registration.patient_id))
        .where(col(Registration.event_id) == event.id, col(Registration.status) == "registered")
        .order_by(col(Registration.id))
    ).all()
    check_contactable(session, (int(patient_id) for _registration, patient_id in seated))
    rows = [
        reminder_values(
            clinic_id=event.clinic_id,
            patient_id=patient_id,
            kind=kind,
            purpose="care",
            due_at=at,
            payload=payload,
            plan_key=key(int(registration_id or 0)),
            idempotency_key=new_key(),
            created_at=at,
            expires_at=event.ends_at,
        )
        for registration_id, patient_id in seated
    ]
    insert_rows(session, rows)
    return len(seated)


def update_event(
    session: Session,
    /,
    event_id: int,
    *,
    at: datetime,
    title: str | dict[str, str] | _Unset = UNSET,
    starts_at: datetime | _Unset = UNSET,
    ends_at: datetime | _Unset = UNSET,
    location: str | _Unset = UNSET,
    capacity: int | None | _Unset = UNSET,
    **unknown: Unpack[NoOtherFields],
) -> Event:
    """Change an event's title, time, place or capacity (fields not given stay as they are).

    A change of time (``starts_at``/``ends_at``) or place (``location``) raises the iCalendar SEQUENCE and
    sends each registered patient a care reminder ``"event_changed"`` due ``at``; a new start time also
    replans their 24-hour reminders.  A title change raises nothing and sends nothing, but pending messages
    show the new title.  More capacity (or ``None``) promotes waitlisted registrations in the order they came.

    Args:
        at: when the change is made (the ``.ics`` DTSTAMP).

    Returns:
        The event.

    Raises:
        NotFound: no such event.
        ValidationError, NaiveDatetimeError: a malformed or unknown field (``.field`` names it), ``ends_at`` not
            after ``starts_at``.
        Conflict: the event is cancelled or closed; the new capacity is below the seats already held.
    """
    for name in unknown:
        raise ValidationError(
            f"{name} is not an event field; expected title, starts_at, ends_at, location or capacity", field=name
        )
    changed_at = aware(at, "at")
    new_title = None if isinstance(title, _Unset) else check_title(title)
    new_location = None if isinstance(location, _Unset) else check_location(location)
    new_capacity = UNSET if isinstance(capacity, _Unset) else check_capacity(capacity)
    new_start = None if isinstance(starts_at, _Unset) else aware(starts_at, "starts_at")
    new_end = None if isinstance(ends_at, _Unset) else aware(ends_at, "ends_at")
    event = locked_event(session, event_id)
    if event.status != "scheduled":
        raise Conflict(f"cannot change event {event_id}: it is {event.status}")
    start, end = _times(new_start or event.starts_at, new_end or event.ends_at)
    if not isinstance(new_capacity, _Unset) and new_capacity is not None and new_capacity < event.seats_taken:
        raise Conflict(
            f"capacity {new_capacity} is below the {event.seats_taken} seats already held; cancel registrations first"
        )
    moved = start != event.starts_at
    timed = moved or end != event.ends_at
    placed = new_location is not None and new_location != event.location
    retitled = new_title is not None and new_title != event.title
    resized = not isinstance(new_capacity, _Unset) and new_capacity != event.capacity
    if not (timed or placed or retitled or resized):
        return event
    if not isinstance(new_capacity, _Unset):
        event.capacity = new_capacity
    event.starts_at, event.ends_at = start, end
    if new_location is not None:
        event.location = new_location
    if new_title is not None:
        event.title = new_title
    event.updated_at = max(event.updated_at, changed_at)  # DTSTAMP never goes back
    if timed or placed:
        event.sequence += 1
    if moved:
        event.reschedules += 1
        cancel_pending(session, event_prefix(event_id), "rescheduled", kind="event_reminder")
    if resized:
        promote_waitlisted(session, event, changed_at)
    session.flush()
    refresh_pending(session, event, event_snapshot(event, _clinic_locale(session, event)))
    if timed or placed:
        sequence = event.sequence
        _notify_registered(
            session, event, kind="event_changed", key=lambda rid: changed_key(event_id, rid, sequence), at=changed_at
        )
    return event


def cancel_event(session: Session, event_id: int, *, at: datetime, reason: str) -> Event:
    """Cancel an event: its pending reminders are cancelled and registered patients get ``"event_cancelled"``.

    The care reminder is due ``at``; its ``.ics`` has ``STATUS:CANCELLED`` (SEQUENCE is raised, so calendars
    take it as an update of the entry they hold).  Registrations keep their status (the record of who signed up).

    Args:
        at: when it was cancelled.
        reason: why, for staff (free text, at most 500 characters; never sent to patients).

    Raises:
        NotFound: no such event.
        ValidationError, NaiveDatetimeError: malformed ``at`` or ``reason``.
        InvalidTransition: the event is already cancelled or closed.
    """
    cancelled_at = aware(at, "at")
    why = require_text(reason, "reason", max_length=REASON_MAX)
    event = locked_event(session, event_id)
    if event.status != "scheduled":
        raise InvalidTransition(f"event {event_id} is {event.status}", current=event.status, requested="cancelled")
    event.status = "cancelled"
    event.cancelled_at = cancelled_at
    event.cancel_reason = why
    event.sequence += 1
    event.updated_at = max(event.updated_at, cancelled_at)
    session.flush()
    cancel_pending(session, event_prefix(event_id), "event_cancelled")
    _notify_registered(
        session, event, kind="event_cancelled", key=lambda rid: cancelled_key(event_id, rid), at=cancelled_at
    )
    return event


def close_event(session: Session, event_id: int, *, at: datetime) -> Event:
    """Close an event after it started: registered patients who did not check in become ``"no_show"``.

    Waitlisted registrations stay waitlisted (they never held a seat); pending reminders of the event
    (invitations, 24-hour reminders) are cancelled.

    Raises:
        NotFound: no such event.
        NaiveDatetimeError: ``at`` is naive.
        ValidationError: ``at`` is before the event starts (``field="at"``).
        InvalidTransition: the event is already cancelled or closed.
    """
    closed_at = aware(at, "at")
    event = locked_event(session, event_id)
    if event.status != "scheduled":
        raise InvalidTransition(f"event {event_id} is {event.status}", current=event.status, requested="closed")
    if closed_at < event.starts_at:
        raise ValidationError("an event can only be closed once it has started", field="at")
    session.execute(
        update(Registration)
        .where(col(Registration.event_id) == event_id, col(Registration.status) == "registered")
        .values(status="no_show")
    )
    event.status = "closed"
    event.closed_at = closed_at
    cancel_pending(session, event_prefix(event_id), "event_closed")
    session.flush()
    return event


def invite(session: Session, event_id: int, *, patient_ids: Iterable[int], at: datetime) -> int:
    """Invite patients: one marketing reminder ``"event_invitation"`` per patient, due ``at``.

    Dispatch sends it only with the patient's marketing consent for the channel, outside quiet hours and
    while marketing is not paused.  A patient already invited to this event is not invited again, and a
    patient listed twice counts once.

    Returns:
        How many invitations were made.

    Raises:
        NotFound: no such event or patient.
        ValidationError, NaiveDatetimeError: ``patient_ids`` not integers or with a patient of another clinic
            (``field="patient_ids"``), ``at`` naive or not before the event starts (``field="at"``).
        Conflict: the event is cancelled or closed.
    """
    due = aware(at, "at")
    if isinstance(patient_ids, (str, bytes)) or not isinstance(patient_ids, Iterable):
        raise ValidationError("patient_ids must be a list of patient ids", field="patient_ids")
    wanted = list(dict.fromkeys(patient_ids))
    if any(isinstance(p, bool) or not isinstance(p, int) for p in wanted):
        raise ValidationError("patient_ids must be integers", field="patient_ids")
    event = locked_event(session, event_id)
    if event.status != "scheduled":
        raise Conflict(f"cannot invite to event {event_id}: it is {event.status}")
    if due >= event.starts_at:
        raise ValidationError("invitations must be due before the event starts", field="at")
    clinics: dict[int, int] = {
        int(patient_id or 0): clinic_id
        for patient_id, clinic_id in session.execute(
            select(col(Patient.id), col(Patient.clinic_id)).where(col(Patient.id).in_(wanted))
        )
    }
    for patient_id in wanted:
        if patient_id not in clinics:
            raise NotFound(f"no patient with id {patient_id}")
        if clinics[patient_id] != event.clinic_id:
            raise ValidationError(f"patient {patient_id} belongs to another clinic", field="patient_ids")
    keys = {invitation_key(event_id, p): p for p in wanted}
    done = set(session.execute(select(col(Reminder.plan_key)).where(col(Reminder.plan_key).in_(list(keys)))).scalars())
    payload = event_snapshot(event, _clinic_locale(session, event))
    fresh = {key: patient_id for key, patient_id in keys.items() if key not in done}
    check_contactable(session, fresh.values())
    rows = [
        reminder_values(
            clinic_id=event.clinic_id,
            patient_id=patient_id,
            kind="event_invitation",
            purpose="marketing",
            due_at=due,
            payload=payload,
            plan_key=key,
            idempotency_key=new_key(),
            created_at=due,
            expires_at=event.starts_at,
        )
        for key, patient_id in fresh.items()
    ]
    return insert_rows(session, rows)


@reads
def event_calendar(session: Session, event_id: int) -> str:
    """The event as RFC 5545 text (one VEVENT) that calendar programs and the ``icalendar`` package read.

    UID stays the same for the event; DTSTART/DTEND are UTC; SUMMARY is the title in the clinic's locale;
    SEQUENCE is raised by each change of time or place (and by cancelling); STATUS is ``CANCELLED`` once
    cancelled, else ``CONFIRMED``.

    Raises:
        NotFound: no such event.
    """
    event = get_or_404(session, Event, event_id)
    return event_ics(event, _clinic_locale(session, event))
