"""The iCalendar (RFC 5545) text of an event, built with the ``icalendar`` package, and the snapshot reminders carry."""

from __future__ import annotations

from typing import Any

import icalendar

from clinic_crm.messaging.render import localized
from clinic_crm.models import Event

__all__ = ["PRODID", "event_ics", "event_snapshot"]

#: The ``PRODID`` of every calendar clinic_crm writes.
PRODID = "-//clinic_crm//community events//EN"


def event_ics(event: Event, locale: str) -> str:
    """One ``VCALENDAR`` (``METHOD:PUBLISH``) with one ``VEVENT`` for ``event``; SUMMARY in ``locale``.

    UID is the event's stored uid (the same across every update); DTSTART/DTEND are UTC; DTSTAMP and
    LAST-MODIFIED are the time of the last change (so the same state always gives the same text);
    SEQUENCE counts changes of time or place; STATUS is ``CANCELLED`` once cancelled, else ``CONFIRMED``.
    """
    calendar = icalendar.Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    vevent = icalendar.Event()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", event.updated_at)
    vevent.add("created", event.created_at)
    vevent.add("last-modified", event.updated_at)
    vevent.add("dtstart", event.starts_at)
    vevent.add("dtend", event.ends_at)
    vevent.add("summary", localized(event.title, locale))
    vevent.add("location", event.location)
    vevent.add("sequence", event.sequence)
    vevent.add("status", "CANCELLED" if event.status == "cancelled" else "CONFIRMED")
    calendar.add_component(vevent)
    text: bytes = calendar.to_ical()
    return text.decode("utf-8")


def event_snapshot(event: Event, locale: str) -> dict[str, Any]:
    """The payload of an event reminder: what its text shows (``event``) and its ``.ics`` as of now.

    Stored when the reminder is made and refreshed while it is pending (see ``services.events``), so
    dispatch renders and attaches it without a query per message.
    """
    return {
        "event": {
            "id": event.id,
            "title": event.title,
            "starts_at": event.starts_at.isoformat(),
            "location": event.location,
        },
        "ics": event_ics(event, locale),
    }
