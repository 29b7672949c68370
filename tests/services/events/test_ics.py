"""``crm.events.ics``: RFC 5545 text parsed back by ``icalendar`` and checked field by field."""

from __future__ import annotations

from datetime import UTC, timedelta

import icalendar

from clinic_crm import ClinicCRM
from tests.conftest import T0

from .conftest import ENDS, STARTS, EventFactory


def _vevent(crm: ClinicCRM, event_id: int) -> icalendar.Event:
    calendar = icalendar.Calendar.from_ical(crm.events.ics(event_id))
    assert str(calendar["VERSION"]) == "2.0" and str(calendar["METHOD"]) == "PUBLISH" and calendar["PRODID"]
    events = calendar.walk("VEVENT")
    assert len(events) == 1
    vevent: icalendar.Event = events[0]
    return vevent


def test_ics_fields(crm: ClinicCRM, make_event: EventFactory) -> None:
    event = make_event()
    vevent = _vevent(crm, event.id)
    assert str(vevent["UID"]) == event.uid
    start, end = vevent.decoded("DTSTART"), vevent.decoded("DTEND")
    assert start == STARTS and end == ENDS
    assert start.utcoffset() == timedelta(0) and "Z" in vevent["DTSTART"].to_ical().decode()
    assert vevent.decoded("DTSTAMP") == T0
    assert str(vevent["SUMMARY"]) == "糖尿病衛教講座"  # the clinic's locale (zh_TW)
    assert str(vevent["LOCATION"]) == "3F classroom"
    assert int(vevent["SEQUENCE"]) == 0
    assert str(vevent["STATUS"]) == "CONFIRMED"


def test_uid_is_stable_and_sequence_counts_changes_of_time_or_place(crm: ClinicCRM, make_event: EventFactory) -> None:
    event = make_event(title="Yoga for back pain")
    uid = str(_vevent(crm, event.id)["UID"])
    other = make_event()
    assert str(_vevent(crm, other.id)["UID"]) != uid

    crm.events.update(event.id, at=T0 + timedelta(minutes=1), title="Yoga for a healthy back")
    vevent = _vevent(crm, event.id)
    assert (str(vevent["UID"]), int(vevent["SEQUENCE"]), str(vevent["SUMMARY"])) == (
        uid,
        0,
        "Yoga for a healthy back",
    )
    assert vevent.decoded("DTSTAMP") == T0 + timedelta(minutes=1)

    crm.events.update(event.id, at=T0 + timedelta(minutes=2), starts_at=STARTS + timedelta(hours=1))
    vevent = _vevent(crm, event.id)
    assert (int(vevent["SEQUENCE"]), vevent.decoded("DTSTART")) == (1, STARTS + timedelta(hours=1))

    crm.events.update(event.id, at=T0 + timedelta(minutes=3), ends_at=ENDS + timedelta(hours=1))
    assert int(_vevent(crm, event.id)["SEQUENCE"]) == 2

    crm.events.update(event.id, at=T0 + timedelta(minutes=4), location="Community centre")
    vevent = _vevent(crm, event.id)
    assert (int(vevent["SEQUENCE"]), str(vevent["LOCATION"])) == (3, "Community centre")

    crm.events.update(event.id, at=T0 + timedelta(minutes=5), location="Community centre", capacity=50)
    assert int(_vevent(crm, event.id)["SEQUENCE"]) == 3  # same place, capacity: no change for calendars

    crm.events.cancel(event.id, at=T0 + timedelta(minutes=6), reason="teacher ill")
    vevent = _vevent(crm, event.id)
    assert str(vevent["STATUS"]) == "CANCELLED"
    assert str(vevent["UID"]) == uid and int(vevent["SEQUENCE"]) == 4
    assert vevent.decoded("DTSTAMP").astimezone(UTC) == T0 + timedelta(minutes=6)
