"""Messages about events: invitations (marketing), 24-hour reminders from plan(), change and cancellation notices."""

from __future__ import annotations

from datetime import timedelta

import icalendar
import pytest

from clinic_crm import ClinicCRM, Conflict, NotFound, ValidationError
from clinic_crm.messaging.message import CALENDAR_CONTENT_TYPE
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingSender
from tests.conftest import T0, count_rows

from .conftest import ENDS, STARTS, EventFactory, PatientFactory

DAY_BEFORE = STARTS - timedelta(hours=24)


def _reminders(crm: ClinicCRM, kind: str) -> list[tuple[int, str, str]]:
    from sqlalchemy import text

    with crm.engine.connect() as conn:
        return [
            (int(r[0]), r[1], r[2])
            for r in conn.execute(
                text("SELECT patient_id, status, purpose FROM reminder WHERE kind = :k ORDER BY id"), {"k": kind}
            )
        ]


def test_invitations_need_marketing_consent(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory, sender: RecordingSender
) -> None:
    event = make_event()
    granted, silent = make_patient(), make_patient()
    crm.patients.grant_consent(granted.id, "sms", "marketing", source="form", at=T0 - timedelta(days=1))  # type: ignore[arg-type]
    made = crm.events.invite(event.id, patient_ids=[granted.id, silent.id, granted.id], at=T0)  # type: ignore[list-item]
    assert made == 2
    assert [(p, s, purpose) for p, s, purpose in _reminders(crm, "event_invitation")] == [
        (granted.id, "pending", "marketing"),
        (silent.id, "pending", "marketing"),
    ]
    assert crm.events.invite(event.id, patient_ids=[granted.id], at=T0) == 0  # type: ignore[list-item]
    report = crm.reminders.dispatch(sender, now=T0)
    assert (report.sent, report.suppressed) == (1, 1)
    [message] = sender.messages
    assert message.patient_id == granted.id and message.channel == "sms"
    assert "糖尿病衛教講座" in message.body and "3F classroom" in message.body
    assert "2026年3月9日" in message.body and "下午5:00" in message.body  # Taipei time
    assert message.attachments == ()  # SMS carries the short text only
    assert [s for _p, s, _x in _reminders(crm, "event_invitation")] == ["sent", "suppressed"]


def test_invitations_wait_while_marketing_is_paused_and_in_quiet_hours(
    crm: ClinicCRM, clinic: Clinic, make_event: EventFactory, make_patient: PatientFactory, sender: RecordingSender
) -> None:
    event = make_event()
    patient = make_patient()
    crm.patients.grant_consent(patient.id, "sms", "marketing", source="form", at=T0 - timedelta(days=1))  # type: ignore[arg-type]
    night = T0 + timedelta(hours=5)  # 22:00 in Taipei
    crm.events.invite(event.id, patient_ids=[patient.id], at=night)  # type: ignore[list-item]
    assert crm.reminders.dispatch(sender, now=night).deferred == 1
    crm.reminders.pause(clinic.id, purposes=("marketing",), reason="incident")  # type: ignore[arg-type]
    morning = T0 + timedelta(days=1)
    assert crm.reminders.dispatch(sender, now=morning).held == 1
    crm.reminders.resume(clinic.id)  # type: ignore[arg-type]
    assert crm.reminders.dispatch(sender, now=morning).sent == 1
    assert crm.reminders.dispatch(sender, now=morning).sent == 0  # exactly once
    assert len(sender.messages) == 1


def test_invite_rejects_bad_input_and_writes_nothing(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event()
    patient = make_patient()
    other_clinic = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    foreigner = make_patient(clinic_id=other_clinic.id)
    with pytest.raises(ValidationError) as info:
        crm.events.invite(event.id, patient_ids=[patient.id, foreigner.id], at=T0)  # type: ignore[list-item]
    assert info.value.field == "patient_ids"
    with pytest.raises(ValidationError):
        crm.events.invite(event.id, patient_ids=["1"], at=T0)  # type: ignore[list-item]
    with pytest.raises(ValidationError) as info:
        crm.events.invite(event.id, patient_ids=[patient.id], at=STARTS)  # type: ignore[list-item]
    assert info.value.field == "at"
    with pytest.raises(NotFound):
        crm.events.invite(event.id, patient_ids=[patient.id, 9999], at=T0)  # type: ignore[list-item]
    crm.events.cancel(event.id, at=T0, reason="room flooded")
    with pytest.raises(Conflict):
        crm.events.invite(event.id, patient_ids=[patient.id], at=T0)  # type: ignore[list-item]
    assert count_rows(crm, "reminder") == 0


def test_plan_makes_one_event_reminder_per_registered_patient_exactly_once(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory, sender: RecordingSender
) -> None:
    event = make_event(capacity=1)
    seated = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    crm.events.register(event.id, patient_id=make_patient().id, at=T0)  # waitlisted: no reminder
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=5)) == 0  # not yet within the horizon
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=7)) == 1
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=7)) == 0  # twice: nothing new
    assert crm.reminders.plan(now=T0 + timedelta(days=1), horizon=timedelta(days=7)) == 0
    [(patient_id, status, purpose)] = _reminders(crm, "event_reminder")
    assert (patient_id, status, purpose) == (seated.patient_id, "pending", "care")
    assert crm.reminders.dispatch(sender, now=DAY_BEFORE - timedelta(minutes=1)).sent == 0
    assert crm.reminders.dispatch(sender, now=DAY_BEFORE).sent == 1
    assert "提醒您報名的「糖尿病衛教講座」" in sender.messages[0].body


def test_cancelling_a_registration_cancels_its_pending_reminder_and_the_promoted_get_one(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory
) -> None:
    event = make_event(capacity=1)
    first = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    second = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    crm.reminders.plan(now=T0, horizon=timedelta(days=7))
    crm.events.cancel_registration(first.id, at=T0 + timedelta(hours=1))
    assert [(p, s) for p, s, _ in _reminders(crm, "event_reminder")] == [(first.patient_id, "cancelled")]
    assert crm.reminders.plan(now=T0 + timedelta(hours=1), horizon=timedelta(days=7)) == 1
    assert [(p, s) for p, s, _ in _reminders(crm, "event_reminder")] == [
        (first.patient_id, "cancelled"),
        (second.patient_id, "pending"),
    ]


def test_a_change_of_time_notifies_registered_patients_and_replans_their_reminder(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory, sender: RecordingSender
) -> None:
    event = make_event(capacity=1)
    seated = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    crm.events.register(event.id, patient_id=make_patient().id, at=T0)  # waitlisted: not told
    crm.reminders.plan(now=T0, horizon=timedelta(days=7))
    later = timedelta(days=1)
    changed_at = T0 + timedelta(hours=2)
    crm.events.update(event.id, at=changed_at, starts_at=STARTS + later, ends_at=ENDS + later)
    assert [(p, s) for p, s, _ in _reminders(crm, "event_changed")] == [(seated.patient_id, "pending")]
    assert [s for _, s, _ in _reminders(crm, "event_reminder")] == ["cancelled"]
    assert crm.reminders.plan(now=changed_at, horizon=timedelta(days=8)) == 1
    assert crm.reminders.dispatch(sender, now=changed_at).sent == 1
    assert "已變更為2026年3月10日" in sender.messages[0].body
    assert crm.reminders.dispatch(sender, now=DAY_BEFORE).sent == 0  # the old time's reminder is gone
    assert crm.reminders.dispatch(sender, now=DAY_BEFORE + later).sent == 1
    assert "2026年3月10日" in sender.messages[1].body


def test_a_later_start_keeps_pending_invitations_alive_until_the_new_start(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory, sender: RecordingSender
) -> None:
    event = make_event()
    patient = make_patient()
    crm.patients.grant_consent(patient.id, "sms", "marketing", source="form", at=T0)  # type: ignore[arg-type]
    crm.events.invite(event.id, patient_ids=[patient.id], at=STARTS - timedelta(hours=2))  # type: ignore[list-item]
    crm.events.update(event.id, at=T0, starts_at=STARTS + timedelta(days=1), ends_at=ENDS + timedelta(days=1))
    report = crm.reminders.dispatch(sender, now=STARTS + timedelta(hours=1))  # past the old start: not expired
    assert (report.sent, report.suppressed) == (1, 0)


def test_a_title_change_sends_nothing_but_pending_messages_show_it(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory, sender: RecordingSender
) -> None:
    event = make_event()
    crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    crm.reminders.plan(now=T0, horizon=timedelta(days=7))
    crm.events.update(event.id, at=T0, title={"en": "Diabetes and you", "zh_TW": "糖尿病與您"})
    assert _reminders(crm, "event_changed") == []
    crm.reminders.dispatch(sender, now=DAY_BEFORE)
    [message] = sender.messages
    assert "糖尿病與您" in message.body


def test_cancelling_the_event_cancels_pending_reminders_and_notifies_registered(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory, sender: RecordingSender
) -> None:
    event = make_event(capacity=1)
    seated = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    waiting = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    outsider = make_patient()
    crm.events.invite(event.id, patient_ids=[outsider.id], at=T0 + timedelta(days=1))  # type: ignore[list-item]
    crm.reminders.plan(now=T0, horizon=timedelta(days=7))
    cancelled = crm.events.cancel(event.id, at=T0 + timedelta(hours=3), reason="typhoon warning")
    assert cancelled.status == "cancelled" and cancelled.cancel_reason == "typhoon warning"
    assert [s for _, s, _ in _reminders(crm, "event_invitation")] == ["cancelled"]
    assert [s for _, s, _ in _reminders(crm, "event_reminder")] == ["cancelled"]
    assert [(p, s, purpose) for p, s, purpose in _reminders(crm, "event_cancelled")] == [
        (seated.patient_id, "pending", "care")
    ]
    assert crm.reminders.plan(now=T0 + timedelta(hours=3), horizon=timedelta(days=7)) == 0
    crm.reminders.dispatch(sender, now=T0 + timedelta(hours=3))
    [message] = sender.messages
    assert message.patient_id == seated.patient_id and "已取消" in message.body
    assert waiting.status == "waitlisted"
    with pytest.raises(ValidationError) as info:
        crm.events.cancel(make_event().id, at=T0, reason=" ")
    assert info.value.field == "reason"


def test_email_reminders_carry_the_ics_and_english_patients_read_the_english_title(
    crm: ClinicCRM, make_event: EventFactory, make_patient: PatientFactory, sender: RecordingSender
) -> None:
    event = make_event()
    patient = make_patient(phone=None, locale="en_US")
    crm.patients.grant_consent(patient.id, "email", "marketing", source="form", at=T0 - timedelta(days=1))  # type: ignore[arg-type]
    crm.events.invite(event.id, patient_ids=[patient.id], at=T0)  # type: ignore[list-item]
    registration = crm.events.register(event.id, patient_id=patient.id, at=T0)
    crm.reminders.plan(now=T0, horizon=timedelta(days=7))
    crm.events.update(event.id, at=T0 + timedelta(hours=1), location="5F hall")
    crm.reminders.dispatch(sender, now=T0 + timedelta(hours=1))
    crm.reminders.dispatch(sender, now=DAY_BEFORE)
    kinds = [m.subject for m in sender.messages]
    assert kinds == [
        "Invitation: Living well with diabetes",
        "Changed: Living well with diabetes",
        "Reminder: Living well with diabetes",
    ]
    for message in sender.messages:
        [attachment] = message.attachments
        assert attachment.filename == "event.ics" and attachment.content_type == CALENDAR_CONTENT_TYPE
        assert "5F hall" in message.body and "Monday, March 9, 2026" in message.body
        [vevent] = icalendar.Calendar.from_ical(attachment.data.decode()).walk("VEVENT")
        assert str(vevent["LOCATION"]) == "5F hall" and int(vevent["SEQUENCE"]) == 1
        assert str(vevent["UID"]) == crm.events.get(event.id).uid
        assert attachment.data.decode() not in repr(message) and "size=" in repr(attachment)
    assert registration.status == "registered"
    assert ENDS > STARTS
