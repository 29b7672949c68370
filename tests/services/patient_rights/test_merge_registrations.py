"""``crm.patients.merge`` of two records registered for one event: the kept patient holds one registration."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM, Conflict, Event
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingSender
from tests.conftest import T0
from tests.services.patient_rights.conftest import PatientFactory

STARTS = T0 + timedelta(days=7)
MERGED_AT = T0 + timedelta(hours=2)


@pytest.fixture
def talk(crm: ClinicCRM, rclinic: Clinic) -> Event:
    """A health talk a week after ``T0`` with 2 seats."""
    assert rclinic.id is not None
    return crm.events.create(
        rclinic.id,
        title="Living well with diabetes",
        kind="health_talk",
        starts_at=STARTS,
        ends_at=STARTS + timedelta(hours=2),
        location="3F classroom",
        capacity=2,
        now=T0,
    )


def _state(crm: ClinicCRM, event_id: int) -> list[tuple[int, int, str]]:
    """``(registration id, patient id, status)`` of the event's registrations, in the order they came."""
    return [(r.id, r.patient_id, r.status) for r in crm.events.registrations(event_id)]


def _event_reminders(crm: ClinicCRM) -> list[tuple[int, str]]:
    with crm.engine.connect() as conn:
        rows = conn.execute(text("SELECT patient_id, status FROM reminder WHERE kind = 'event_reminder' ORDER BY id"))
        return [(int(p), str(s)) for p, s in rows]


def test_two_seats_become_one_and_the_waitlist_moves_up(
    crm: ClinicCRM, talk: Event, make_patient: PatientFactory
) -> None:
    sender = RecordingSender()
    keep, other, third = make_patient(), make_patient(), make_patient(family_name="林", given_name="大同")
    assert keep.id is not None and other.id is not None and third.id is not None
    mine = crm.events.register(talk.id, patient_id=keep.id, at=T0)
    theirs = crm.events.register(talk.id, patient_id=other.id, at=T0, seats=1)
    waiting = crm.events.register(talk.id, patient_id=third.id, at=T0)
    assert waiting.status == "waitlisted"
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=7)) == 2  # one per seated registration
    crm.patients.merge(keep.id, other.id, at=MERGED_AT, by="Dr. Lin")
    assert _state(crm, talk.id) == [
        (mine.id, keep.id, "registered"),  # the earlier of two confirmed seats stays
        (theirs.id, keep.id, "cancelled"),  # moved with the merge, but cancelled
        (waiting.id, third.id, "registered"),  # its seat went to the waitlist
    ]
    dropped, promoted = crm.events.registrations(talk.id)[1:]
    assert (dropped.cancelled_at, promoted.promoted_at) == (MERGED_AT, MERGED_AT)
    assert crm.events.get(talk.id).seats_taken == 2
    assert _event_reminders(crm) == [(keep.id, "pending"), (keep.id, "cancelled")]
    assert crm.reminders.plan(now=MERGED_AT, horizon=timedelta(days=7)) == 1  # the promoted patient's
    assert crm.reminders.dispatch(sender, now=STARTS - timedelta(hours=24)).sent == 2
    assert sorted(m.patient_id for m in sender.messages) == sorted([keep.id, third.id])  # never twice
    with pytest.raises(Conflict):
        crm.events.register(talk.id, patient_id=keep.id, at=MERGED_AT)  # one live registration
    merge_events = [e for e in crm.audit.for_patient(keep.id) if e.action == "merge"]
    assert merge_events[-1].details["registrations_cancelled"] == 1


def test_a_confirmed_seat_wins_over_an_earlier_waitlist_place(
    crm: ClinicCRM, talk: Event, make_patient: PatientFactory
) -> None:
    a, b, keep, other = make_patient(), make_patient(), make_patient(), make_patient()
    assert a.id is not None and b.id is not None and keep.id is not None and other.id is not None
    crm.events.register(talk.id, patient_id=a.id, at=T0)
    seat = crm.events.register(talk.id, patient_id=other.id, at=T0)
    waiting = crm.events.register(talk.id, patient_id=keep.id, at=T0)  # full: the kept record waits
    later = crm.events.register(talk.id, patient_id=b.id, at=T0)
    crm.patients.merge(keep.id, other.id, at=MERGED_AT, by="Dr. Lin")
    states = {rid: (pid, status) for rid, pid, status in _state(crm, talk.id)}
    assert states[seat.id] == (keep.id, "registered")  # the merged record's seat is the one kept
    assert states[waiting.id] == (keep.id, "cancelled")
    assert states[later.id] == (b.id, "waitlisted")  # no seat was freed
    assert crm.events.get(talk.id).seats_taken == 2


def test_two_waitlist_places_keep_the_earlier(crm: ClinicCRM, talk: Event, make_patient: PatientFactory) -> None:
    a, b, keep, other = make_patient(), make_patient(), make_patient(), make_patient()
    assert a.id is not None and b.id is not None and keep.id is not None and other.id is not None
    crm.events.register(talk.id, patient_id=a.id, at=T0, seats=2)
    earlier = crm.events.register(talk.id, patient_id=other.id, at=T0)
    later = crm.events.register(talk.id, patient_id=keep.id, at=T0)
    crm.patients.merge(keep.id, other.id, at=MERGED_AT, by="Dr. Lin")
    states = {rid: status for rid, _pid, status in _state(crm, talk.id)}
    assert (states[earlier.id], states[later.id]) == ("waitlisted", "cancelled")
    assert crm.events.get(talk.id).seats_taken == 2


def test_a_cancelled_registration_or_another_event_is_left_alone(
    crm: ClinicCRM, talk: Event, make_patient: PatientFactory
) -> None:
    keep, other = make_patient(), make_patient()
    assert keep.id is not None and other.id is not None
    gone = crm.events.register(talk.id, patient_id=keep.id, at=T0)
    crm.events.cancel_registration(gone.id, at=T0 + timedelta(hours=1))
    theirs = crm.events.register(talk.id, patient_id=other.id, at=T0 + timedelta(hours=1))
    crm.patients.merge(keep.id, other.id, at=MERGED_AT, by="Dr. Lin")
    assert _state(crm, talk.id) == [(gone.id, keep.id, "cancelled"), (theirs.id, keep.id, "registered")]
    assert crm.events.get(talk.id).seats_taken == 1
    merge_events = [e for e in crm.audit.for_patient(keep.id) if e.action == "merge"]
    assert "registrations_cancelled" not in merge_events[-1].details
