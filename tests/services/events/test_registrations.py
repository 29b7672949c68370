"""crm.events: creating events, registering, the waitlist, promotion, check-in and close (both databases)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from clinic_crm import (
    ClinicCRM,
    Conflict,
    InvalidTransition,
    NaiveDatetimeError,
    NotFound,
    ValidationError,
)
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows

from .conftest import ENDS, STARTS, TITLE, EventFactory, PatientFactory


def test_create_returns_a_scheduled_event_with_int_id_and_utc_times(crm: ClinicCRM, clinic: Clinic) -> None:
    event = crm.events.create(
        clinic.id,  # type: ignore[arg-type]
        title=TITLE,
        kind="patient_group",
        starts_at=STARTS,
        ends_at=ENDS,
        location="3F",
        now=T0,
    )
    assert type(event.id) is int
    assert event.status == "scheduled" and event.capacity is None and event.sequence == 0
    assert event.title == TITLE
    got = crm.events.get(event.id)
    assert got.starts_at == STARTS and got.starts_at.tzinfo is not None and got.starts_at.utcoffset() == timedelta(0)
    assert got.ends_at == ENDS


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"kind": "party"}, "kind"),
        ({"title": ""}, "title"),
        ({"title": {}}, "title"),
        ({"title": {"xx-YY": "t"}}, "title"),
        ({"title": 3}, "title"),
        ({"location": "  "}, "location"),
        ({"capacity": 0}, "capacity"),
        ({"capacity": -1}, "capacity"),
        ({"capacity": True}, "capacity"),
        ({"capacity": 2.5}, "capacity"),
        ({"ends_at": STARTS}, "ends_at"),
        ({"ends_at": STARTS - timedelta(minutes=1)}, "ends_at"),
        ({"starts_at": "2026-03-09"}, "starts_at"),
    ],
)
def test_create_rejects_bad_input_and_writes_nothing(
    crm: ClinicCRM, make_event: EventFactory, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        make_event(**overrides)
    assert info.value.field == field
    assert count_rows(crm, "event") == 0


def test_create_rejects_naive_datetimes(crm: ClinicCRM, make_event: EventFactory) -> None:
    with pytest.raises(NaiveDatetimeError):
        make_event(starts_at=datetime(2026, 3, 9, 9, 0))
    with pytest.raises(NotFound):
        make_event(clinic_id=999)
    assert count_rows(crm, "event") == 0


def test_register_until_capacity_then_waitlist_first_come_first_served(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event(capacity=3)
    a, b, c, d = (make_patient() for _ in range(4))
    ra = crm.events.register(event.id, patient_id=a.id, at=T0, seats=2)
    rb = crm.events.register(event.id, patient_id=b.id, at=T0, seats=2)  # 4 > 3: waits
    rc = crm.events.register(event.id, patient_id=c.id, at=T0)  # 1 seat would fit, but b is waiting
    assert (ra.status, rb.status, rc.status) == ("registered", "waitlisted", "waitlisted")
    assert type(ra.id) is int and ra.event_id == event.id and ra.patient_id == a.id and ra.seats == 2
    assert ra.registered_at == T0
    crm.events.cancel_registration(ra.id, at=T0 + timedelta(hours=1))
    statuses = {r.id: r.status for r in crm.events.registrations(event.id)}
    assert statuses == {ra.id: "cancelled", rb.id: "registered", rc.id: "registered"}
    rd = crm.events.register(event.id, patient_id=d.id, at=T0)
    assert rd.status == "waitlisted"
    assert crm.events.get(event.id).seats_taken == 3


def test_promotion_stops_at_the_first_that_does_not_fit(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event(capacity=3)
    first = crm.events.register(event.id, patient_id=make_patient().id, at=T0, seats=3)
    big = crm.events.register(event.id, patient_id=make_patient().id, at=T0, seats=3)
    small = crm.events.register(event.id, patient_id=make_patient().id, at=T0, seats=1)
    other = crm.events.register(event.id, patient_id=make_patient().id, at=T0, seats=1)
    holder = crm.events.register(event.id, patient_id=make_patient().id, at=T0, seats=1)
    assert [first.status, big.status, small.status, other.status, holder.status] == ["registered"] + ["waitlisted"] * 4
    crm.events.update(event.id, at=T0, capacity=5)  # 2 free seats: big (3) does not fit, so nobody moves
    assert [r.status for r in crm.events.registrations(event.id)] == ["registered"] + ["waitlisted"] * 4
    crm.events.cancel_registration(first.id, at=T0)  # 5 free: big (3) then small (1) then other (1)
    assert [r.status for r in crm.events.registrations(event.id)] == [
        "cancelled",
        "registered",
        "registered",
        "registered",
        "waitlisted",
    ]
    crm.events.update(event.id, at=T0, capacity=None)  # unlimited: everyone waiting gets in
    assert crm.events.registrations(event.id, status="waitlisted") == []


def test_registrations_in_the_order_they_came_and_by_status(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event(capacity=1)
    late = T0 + timedelta(hours=5)
    ids = [
        crm.events.register(event.id, patient_id=make_patient().id, at=late - timedelta(hours=n)).id for n in range(4)
    ]
    assert [r.id for r in crm.events.registrations(event.id)] == ids  # arrival order, not the at= given
    assert [r.id for r in crm.events.registrations(event.id, status="waitlisted")] == ids[1:]
    with pytest.raises(ValidationError) as info:
        crm.events.registrations(event.id, status="maybe")
    assert info.value.field == "status"
    with pytest.raises(NotFound):
        crm.events.registrations(12345)


def test_the_same_patient_twice_conflicts_until_cancelled(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event(capacity=1)
    patient, other = make_patient(), make_patient()
    crm.events.register(event.id, patient_id=other.id, at=T0)
    first = crm.events.register(event.id, patient_id=patient.id, at=T0)  # waitlisted
    with pytest.raises(Conflict):
        crm.events.register(event.id, patient_id=patient.id, at=T0)
    assert count_rows(crm, "event_registration") == 2
    crm.events.cancel_registration(first.id, at=T0)
    again = crm.events.register(event.id, patient_id=patient.id, at=T0)
    assert again.id != first.id and again.status == "waitlisted"


def test_register_rejects_bad_input_and_writes_nothing(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event(capacity=2)
    patient = make_patient()
    foreign_clinic = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    foreigner = make_patient(clinic_id=foreign_clinic.id)
    cases: list[tuple[dict[str, object], type[Exception], str | None]] = [
        ({"patient_id": foreigner.id}, ValidationError, "patient_id"),
        ({"seats": 0}, ValidationError, "seats"),
        ({"seats": 3}, ValidationError, "seats"),  # more than the capacity: could never be seated
        ({"seats": "1"}, ValidationError, "seats"),
        ({"at": datetime(2026, 3, 2, 9)}, NaiveDatetimeError, "at"),
        ({"patient_id": 99999}, NotFound, None),
    ]
    for overrides, error, field in cases:
        kwargs: dict[str, object] = {"patient_id": patient.id, "at": T0, **overrides}
        with pytest.raises(error) as info:
            crm.events.register(event.id, **kwargs)  # type: ignore[arg-type]
        if field is not None:
            assert getattr(info.value, "field", None) == field
    with pytest.raises(NotFound):
        crm.events.register(4242, patient_id=patient.id, at=T0)
    assert count_rows(crm, "event_registration") == 0


def test_cancelled_or_closed_events_take_no_registrations(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    cancelled, closed = make_event(), make_event()
    crm.events.cancel(cancelled.id, at=T0, reason="typhoon")
    crm.events.close(closed.id, at=ENDS)
    for event in (cancelled, closed):
        with pytest.raises(Conflict):
            crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    assert count_rows(crm, "event_registration") == 0


def test_check_in_and_close(crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory) -> None:
    event = make_event(capacity=2)
    came = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    missed = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    waiting = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    attended = crm.events.check_in(came.id, at=STARTS)
    assert attended.status == "attended" and attended.checked_in_at == STARTS
    with pytest.raises(InvalidTransition):
        crm.events.check_in(came.id, at=STARTS)  # twice
    with pytest.raises(InvalidTransition):
        crm.events.check_in(waiting.id, at=STARTS)  # only from registered
    with pytest.raises(ValidationError) as info:
        crm.events.close(event.id, at=STARTS - timedelta(minutes=1))
    assert info.value.field == "at"
    closed = crm.events.close(event.id, at=ENDS)
    assert closed.status == "closed" and closed.closed_at == ENDS
    statuses = {r.id: r.status for r in crm.events.registrations(event.id)}
    assert statuses == {came.id: "attended", missed.id: "no_show", waiting.id: "waitlisted"}
    with pytest.raises(InvalidTransition):
        crm.events.close(event.id, at=ENDS)
    with pytest.raises(InvalidTransition):
        crm.events.check_in(missed.id, at=ENDS)
    with pytest.raises(Conflict):
        crm.events.cancel_registration(waiting.id, at=ENDS)
    with pytest.raises(InvalidTransition):
        crm.events.cancel(event.id, at=ENDS, reason="too late")


def test_cancel_registration_only_from_registered_or_waitlisted(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event()
    registration = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    done = crm.events.cancel_registration(registration.id, at=T0 + timedelta(hours=1))
    assert done.status == "cancelled" and done.cancelled_at == T0 + timedelta(hours=1)
    with pytest.raises(InvalidTransition):
        crm.events.cancel_registration(registration.id, at=T0)
    with pytest.raises(NotFound):
        crm.events.cancel_registration(777, at=T0)
    assert crm.events.get(event.id).seats_taken == 0


def test_update_validates_every_field_and_capacity_against_seats_held(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event(capacity=3)
    crm.events.register(event.id, patient_id=make_patient().id, at=T0, seats=2)
    for kwargs, field in [
        ({"title": ""}, "title"),
        ({"location": ""}, "location"),
        ({"capacity": 0}, "capacity"),
        ({"ends_at": STARTS - timedelta(hours=1)}, "ends_at"),
        ({"starts_at": ENDS + timedelta(hours=1)}, "ends_at"),
    ]:
        with pytest.raises(ValidationError) as info:
            crm.events.update(event.id, at=T0, **kwargs)  # type: ignore[arg-type]
        assert info.value.field == field
    with pytest.raises(Conflict):
        crm.events.update(event.id, at=T0, capacity=1)  # 2 seats are held
    with pytest.raises(ValidationError) as info:  # a typed error naming the unknown field, as the contract's **fields
        crm.events.update(event.id, at=T0, colour="red")
    assert info.value.field == "colour"
    unchanged = crm.events.get(event.id)
    assert (unchanged.capacity, unchanged.sequence, unchanged.location) == (3, 0, "3F classroom")
    smaller = crm.events.update(event.id, at=T0, capacity=2)
    assert smaller.capacity == 2


def test_list_events_of_a_clinic_by_start(crm: ClinicCRM, clinic: Clinic, make_event: EventFactory) -> None:
    later = make_event(starts_at=STARTS + timedelta(days=7), ends_at=ENDS + timedelta(days=7))
    sooner = make_event()
    cancelled = make_event(starts_at=STARTS + timedelta(days=1), ends_at=ENDS + timedelta(days=1))
    crm.events.cancel(cancelled.id, at=T0, reason="room taken")
    assert [e.id for e in crm.events.list(clinic.id)] == [sooner.id, cancelled.id, later.id]  # type: ignore[arg-type]
    assert [e.id for e in crm.events.list(clinic.id, status="scheduled")] == [sooner.id, later.id]  # type: ignore[arg-type]
    window = crm.events.list(clinic.id, since=STARTS + timedelta(days=2), until=STARTS + timedelta(days=8))  # type: ignore[arg-type]
    assert [e.id for e in window] == [later.id]
