"""A day's schedule and rescheduling, as scheduling software uses them (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic_crm import ClinicCRM, InvalidTransition, NaiveDatetimeError, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingSender
from tests.conftest import T0

DAY = timedelta(days=1)


def test_list_filters_a_day(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei", phone="0912-345-678")
    first = crm.visits.book(patient.id, starts_at=T0 + timedelta(hours=2), kind="checkup", practitioner="Dr Chen")
    second = crm.visits.book(patient.id, starts_at=T0 + timedelta(hours=1), kind="cleaning", practitioner="Dr Wu")
    crm.visits.book(patient.id, starts_at=T0 + DAY, kind="checkup", practitioner="Dr Chen")
    cancelled = crm.visits.book(patient.id, starts_at=T0 + timedelta(hours=3), kind="checkup")
    crm.visits.cancel(cancelled.id, at=T0)
    day = crm.visits.list(clinic.id, since=T0, until=T0 + DAY)
    assert [v.id for v in day] == [second.id, first.id, cancelled.id]  # earliest first
    assert [v.id for v in crm.visits.list(clinic.id, since=T0, until=T0 + DAY, status="booked")] == [
        second.id,
        first.id,
    ]
    assert [v.id for v in crm.visits.list(clinic.id, practitioner="Dr Chen", until=T0 + DAY)] == [first.id]
    assert len(crm.visits.list(clinic.id)) == 4
    with pytest.raises(ValidationError):
        crm.visits.list(clinic.id, status="lost")
    with pytest.raises(NaiveDatetimeError):
        crm.visits.list(clinic.id, since=T0.replace(tzinfo=None))


def test_reschedule_moves_the_appointment_reminders(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei", phone="0912-345-678")
    visit = crm.visits.book(patient.id, starts_at=T0 + 3 * DAY, kind="checkup")
    note = crm.reminders.schedule(patient.id, kind="bring_xray", purpose="care", due_at=T0 + 2 * DAY, visit_id=visit.id)
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=30)) == 1
    moved = crm.visits.reschedule(visit.id, starts_at=T0 + 5 * DAY, at=T0)
    assert moved.starts_at == T0 + 5 * DAY and moved.status == "booked"
    assert crm.reminders.get(note.id).due_at == T0 + 4 * DAY  # moved with the visit
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=30)) == 1  # planned again for the new time
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=30)) == 0
    appointment = [r for r in crm.reminders.list(patient_id=patient.id, status="pending") if r.kind == "appointment"]
    assert [r.due_at for r in appointment] == [T0 + 4 * DAY]
    sender = RecordingSender()
    crm.reminders.dispatch(sender, now=T0 + 4 * DAY + timedelta(hours=3))
    assert sorted(m.reminder_id for m in sender.messages) == sorted([note.id, appointment[0].id])


def test_only_booked_visits_move(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei")
    visit = crm.visits.book(patient.id, starts_at=T0, kind="checkup")
    crm.visits.check_in(visit.id, at=T0)
    with pytest.raises(InvalidTransition):
        crm.visits.reschedule(visit.id, starts_at=T0 + DAY, at=T0)
    assert crm.visits.get(visit.id).starts_at == T0
