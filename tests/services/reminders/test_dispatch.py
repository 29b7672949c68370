"""dispatch: the contract's checks in order, retries, limits, claims, fencing — on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM, ClinicCRMError, DeliveryError
from clinic_crm.messaging.message import OutboundMessage
from clinic_crm.models import Clinic, Patient
from clinic_crm.services.reminders import dispatch as dispatch_module
from clinic_crm.services.reminders.claims import claim_query
from clinic_crm.services.reminders.dispatch import DispatchReport, RetryPolicy
from clinic_crm.testing import FailingSender, RecordingSender
from tests.conftest import T0
from tests.services.reminders.conftest import FIXED_LINE, MOBILE, MOBILE_2

MIN = timedelta(minutes=1)
DAY = timedelta(days=1)


def test_sends_a_due_reminder_with_its_key_and_records_the_outcome(
    crm: ClinicCRM, patient: Patient, sender: RecordingSender
) -> None:
    reminder = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    report = crm.reminders.dispatch(sender, now=T0)
    assert (report.sent, report.suppressed, report.deferred, report.held, report.failed) == (1, 0, 0, 0, 0)
    [message] = sender.messages
    assert message.idempotency_key == reminder.idempotency_key
    assert (message.reminder_id, message.patient_id, message.channel, message.to) == (
        reminder.id,
        patient.id,
        "sms",
        MOBILE,
    )
    assert message.subject is None and message.locale == "zh_TW"
    assert "王小明" in message.body and "Sunrise Dental" in message.body
    stored = crm.reminders.get(reminder.id)
    assert stored.status == "sent" and stored.sent_at == T0 and stored.provider_id == "rec-1"
    assert stored.channel == "sms" and stored.attempts == 0
    # nothing is due any more
    assert crm.reminders.dispatch(sender, now=T0 + timedelta(days=1)).claimed == 0
    assert len(sender.messages) == 1


def test_not_yet_due_is_left_alone(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    reminder = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 + MIN)
    assert crm.reminders.dispatch(sender, now=T0).claimed == 0
    assert crm.reminders.get(reminder.id).status == "pending"
    assert crm.reminders.dispatch(sender, now=T0 + MIN).sent == 1


def test_appointment_message_has_visit_time_in_patient_zone_and_locale(
    crm: ClinicCRM, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    en = make_patient(
        family_name="Smith", given_name="Anna", locale="en_US", timezone="America/New_York", phone=MOBILE_2
    )
    tw = make_patient()
    start = datetime(2026, 3, 3, 14, 30, tzinfo=UTC)  # 09:30 New York, 22:30 Taipei
    for p in (en, tw):
        visit = crm.visits.book(p.id, starts_at=start, kind="checkup")
        crm.reminders.schedule(p.id, kind="appointment", purpose="care", due_at=T0, visit_id=visit.id)
    crm.reminders.dispatch(sender, now=datetime(2026, 3, 2, 14, 0, tzinfo=UTC))  # 09:00 NY, 22:00 Taipei (quiet)
    [message] = sender.messages
    assert message.to == MOBILE_2 and "Anna Smith" in message.body
    assert "Tuesday, March 3, 2026" in message.body and "9:30" in message.body and "AM" in message.body
    crm.reminders.dispatch(sender, now=datetime(2026, 3, 3, 0, 0, tzinfo=UTC))  # 08:00 Taipei
    zh = sender.messages[1]
    assert "王小明" in zh.body and "2026年3月3日" in zh.body and "晚上10:30" in zh.body


def test_email_when_asked_and_subject_rendered(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0, channel="email")
    crm.reminders.dispatch(sender, now=T0)
    [message] = sender.messages
    assert message.channel == "email" and message.to == "ming@example.com"
    assert message.subject and "Sunrise Dental" in message.subject


def test_channel_none_prefers_sms_then_email(
    crm: ClinicCRM, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    with_phone = make_patient()
    email_only = make_patient(phone=None)
    a = crm.reminders.schedule(with_phone.id, kind="recall", purpose="care", due_at=T0)
    b = crm.reminders.schedule(email_only.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.dispatch(sender, now=T0)
    assert crm.reminders.get(a.id).channel == "sms"
    assert crm.reminders.get(b.id).channel == "email"
    assert {m.channel for m in sender.messages} == {"sms", "email"}


# --- suppression, in the contract's order ------------------------------------------------------------------------


def test_marketing_without_grant_is_suppressed_no_consent(
    crm: ClinicCRM, patient: Patient, sender: RecordingSender
) -> None:
    r = crm.reminders.schedule(patient.id, kind="birthday", purpose="marketing", due_at=T0)
    report = crm.reminders.dispatch(sender, now=T0)
    assert report.suppressed == 1 and report.suppressed_by_reason == {"no_consent": 1}
    stored = crm.reminders.get(r.id)
    assert (stored.status, stored.suppressed_reason) == ("suppressed", "no_consent")
    assert sender.messages == []


def test_marketing_with_grant_is_sent_with_opt_out_line(
    crm: ClinicCRM, patient: Patient, sender: RecordingSender
) -> None:
    crm.patients.grant_consent(patient.id, "sms", "marketing", source="front desk", at=T0 - MIN)
    crm.reminders.schedule(patient.id, kind="birthday", purpose="marketing", due_at=T0)
    assert crm.reminders.dispatch(sender, now=T0).sent == 1
    assert "退訂" in sender.messages[0].body and "STOP" in sender.messages[0].body


def test_grant_after_now_does_not_count(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    crm.patients.grant_consent(patient.id, "sms", "marketing", source="web form", at=T0 + MIN)
    crm.reminders.schedule(patient.id, kind="birthday", purpose="marketing", due_at=T0)
    assert crm.reminders.dispatch(sender, now=T0).suppressed_by_reason == {"no_consent": 1}


def test_withdrawn_care_consent_is_suppressed(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    crm.patients.withdraw_consent(patient.id, "sms", "care", source="phone call", at=T0 - MIN)
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0, channel="sms")
    e = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0, channel="email")
    crm.reminders.dispatch(sender, now=T0)
    assert crm.reminders.get(r.id).suppressed_reason == "no_consent"
    assert crm.reminders.get(e.id).status == "sent"  # consent is per channel


def test_no_address_is_suppressed(
    crm: ClinicCRM, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    nobody = make_patient(phone=None, email=None)
    no_email = make_patient(email=None)
    a = crm.reminders.schedule(nobody.id, kind="recall", purpose="care", due_at=T0)
    b = crm.reminders.schedule(no_email.id, kind="recall", purpose="care", due_at=T0, channel="email")
    report = crm.reminders.dispatch(sender, now=T0)
    assert report.suppressed_by_reason == {"no_address": 2}
    assert crm.reminders.get(a.id).suppressed_reason == "no_address"
    assert crm.reminders.get(b.id).suppressed_reason == "no_address"


def test_consent_is_checked_before_address(
    crm: ClinicCRM, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    nobody = make_patient(phone=None, email=None)
    r = crm.reminders.schedule(nobody.id, kind="birthday", purpose="marketing", due_at=T0)
    crm.reminders.dispatch(sender, now=T0)
    assert crm.reminders.get(r.id).suppressed_reason == "no_consent"


def test_sms_to_fixed_line_is_not_mobile_but_us_fixed_or_mobile_is_sent(
    crm: ClinicCRM, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    land = make_patient(phone=FIXED_LINE)
    us = make_patient(phone="+12015550123", timezone="America/New_York")
    a = crm.reminders.schedule(land.id, kind="recall", purpose="care", due_at=T0)
    b = crm.reminders.schedule(us.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.dispatch(sender, now=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 23:00 Taipei is quiet…
    crm.reminders.dispatch(sender, now=T0 + timedelta(hours=1))
    assert crm.reminders.get(a.id).suppressed_reason == "not_mobile"
    assert crm.reminders.get(b.id).status == "sent"
    assert [m.to for m in sender.messages] == ["+12015550123"]


def test_not_mobile_is_checked_before_quiet_hours(
    crm: ClinicCRM, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    land = make_patient(phone=FIXED_LINE)
    r = crm.reminders.schedule(land.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.dispatch(sender, now=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # 23:00 Taipei
    assert crm.reminders.get(r.id).suppressed_reason == "not_mobile"


# --- quiet hours -----------------------------------------------------------------------------------------------


def test_quiet_hours_defer_to_their_end_then_send(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    late = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)  # 22:30 Taipei
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=late)
    report = crm.reminders.dispatch(sender, now=late)
    assert (report.deferred, report.sent) == (1, 0)
    stored = crm.reminders.get(r.id)
    eight = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 Taipei next day
    assert stored.status == "pending" and stored.next_attempt_at == eight
    assert crm.reminders.dispatch(sender, now=eight - MIN).claimed == 0
    assert crm.reminders.dispatch(sender, now=eight).sent == 1


def test_quiet_hours_after_midnight_end_the_same_morning(
    crm: ClinicCRM, patient: Patient, sender: RecordingSender
) -> None:
    early = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)  # 03:00 Taipei on 3 March
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=early)
    crm.reminders.dispatch(sender, now=early)
    assert crm.reminders.get(r.id).next_attempt_at == datetime(2026, 3, 3, 0, 0, tzinfo=UTC)


def test_quiet_start_is_inclusive_and_end_exclusive(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    nine_pm = datetime(2026, 3, 2, 13, 0, tzinfo=UTC)  # 21:00 Taipei: quiet
    eight_am = datetime(2026, 3, 3, 0, 0, tzinfo=UTC)  # 08:00 Taipei: not quiet
    a = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=nine_pm)
    assert crm.reminders.dispatch(sender, now=nine_pm).deferred == 1
    assert crm.reminders.dispatch(sender, now=nine_pm - MIN).claimed == 0
    b = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=eight_am)
    assert crm.reminders.dispatch(sender, now=eight_am).sent == 2
    assert {crm.reminders.get(a.id).status, crm.reminders.get(b.id).status} == {"sent"}


def test_quiet_hours_use_the_patient_zone_not_the_clinic_zone(
    crm: ClinicCRM, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    ny = make_patient(timezone="America/New_York")
    now = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # 23:00 Taipei (clinic quiet), 10:00 New York
    sent = crm.reminders.schedule(ny.id, kind="recall", purpose="care", due_at=now)
    assert crm.reminders.dispatch(sender, now=now).sent == 1
    night = datetime(2026, 3, 3, 3, 0, tzinfo=UTC)  # 11:00 Taipei, 22:00 New York: quiet there
    deferred = crm.reminders.schedule(ny.id, kind="recall", purpose="care", due_at=night)
    assert crm.reminders.dispatch(sender, now=night).deferred == 1
    assert crm.reminders.get(sent.id).status == "sent"
    assert crm.reminders.get(deferred.id).next_attempt_at == datetime(2026, 3, 3, 13, 0, tzinfo=UTC)  # 08:00 EST


def test_quiet_hours_end_on_spring_forward_day(
    crm: ClinicCRM, make_patient: Callable[..., Patient], sender: RecordingSender, clinic: Clinic
) -> None:
    crm.clinics.update(clinic.id, quiet_hours=(time(22), time(2, 30)))
    ny = make_patient(timezone="America/New_York")
    now = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST, 8 March 2026: 02:00 → 03:00 that night
    r = crm.reminders.schedule(ny.id, kind="recall", purpose="care", due_at=now)
    assert crm.reminders.dispatch(sender, now=now).deferred == 1
    # 02:30 does not exist that day: the first valid instant after it is 03:00 EDT = 07:00 UTC
    assert crm.reminders.get(r.id).next_attempt_at == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


# --- pause ---------------------------------------------------------------------------------------------------------


def test_paused_marketing_is_held_then_sent_after_resume(
    crm: ClinicCRM, clinic: Clinic, patient: Patient, sender: RecordingSender
) -> None:
    crm.patients.grant_consent(patient.id, "sms", "marketing", source="front desk", at=T0 - MIN)
    crm.reminders.pause(clinic.id, reason="wrong price in the flyer")
    promo = crm.reminders.schedule(patient.id, kind="promo", purpose="marketing", due_at=T0)
    care = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    report = crm.reminders.dispatch(sender, now=T0)
    assert (report.held, report.sent) == (1, 1)
    assert crm.reminders.get(promo.id).status == "pending"
    assert crm.reminders.dispatch(sender, now=T0).claimed == 0  # not re-claimed in a loop
    assert crm.reminders.dispatch(sender, now=T0 + timedelta(minutes=4)).claimed == 0
    assert crm.reminders.dispatch(sender, now=T0 + timedelta(minutes=5)).held == 1  # looked at again: still held
    assert crm.reminders.resume(clinic.id) == 1
    report = crm.reminders.dispatch(sender, now=T0)
    assert report.sent == 1 and crm.reminders.get(promo.id).status == "sent"
    assert sorted(m.reminder_id for m in sender.messages) == sorted([promo.id, care.id])
    [pause] = crm.reminders.pauses(clinic.id)
    assert pause.purpose == "marketing" and pause.reason == "wrong price in the flyer"
    assert pause.resumed_at is not None


def test_pausing_care_holds_care(crm: ClinicCRM, clinic: Clinic, patient: Patient, sender: RecordingSender) -> None:
    crm.reminders.pause(clinic.id, purposes=("care", "marketing"), reason="system migration")
    crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    assert crm.reminders.dispatch(sender, now=T0).held == 1
    crm.reminders.resume(clinic.id, purposes=["marketing"])
    assert crm.reminders.dispatch(sender, now=T0 + timedelta(hours=2)).held == 1  # care still paused
    crm.reminders.resume(clinic.id)
    assert crm.reminders.dispatch(sender, now=T0 + timedelta(hours=2)).sent == 1
    assert len(crm.reminders.pauses(clinic.id)) == 2


def test_held_reminder_that_expired_while_paused_is_suppressed_expired(
    crm: ClinicCRM, clinic: Clinic, patient: Patient, sender: RecordingSender
) -> None:
    crm.reminders.pause(clinic.id, purposes=["care"], reason="incident")
    visit = crm.visits.book(patient.id, starts_at=T0 + timedelta(hours=3), kind="checkup")
    crm.reminders.plan(now=T0, horizon=timedelta(days=1))
    assert crm.reminders.dispatch(sender, now=T0).held == 1
    crm.reminders.resume(clinic.id)
    report = crm.reminders.dispatch(sender, now=T0 + timedelta(hours=3, minutes=30))  # the visit started
    assert report.suppressed_by_reason == {"expired": 1}
    [r] = crm.reminders.list(patient_id=patient.id)
    assert (r.visit_id, r.status, r.suppressed_reason) == (visit.id, "suppressed", "expired")
    assert sender.messages == []


def test_pause_validates(crm: ClinicCRM, clinic: Clinic) -> None:
    from clinic_crm import NotFound, ValidationError

    with pytest.raises(ValidationError):
        crm.reminders.pause(clinic.id, purposes=["ads"], reason="x")
    with pytest.raises(ValidationError):
        crm.reminders.pause(clinic.id, reason=" ")
    with pytest.raises(NotFound):
        crm.reminders.pause(clinic.id + 99, reason="x")
    assert crm.reminders.pauses(clinic.id) == []


# --- failures ------------------------------------------------------------------------------------------------------


def test_retryable_failure_backs_off_then_succeeds_with_the_same_key(crm: ClinicCRM, patient: Patient) -> None:
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    sender = FailingSender(times=2, retryable=True)
    report = crm.reminders.dispatch(sender, now=T0)
    assert (report.failed, report.sent, report.gave_up) == (1, 0, 0)
    stored = crm.reminders.get(r.id)
    assert stored.status == "pending" and stored.attempts == 1
    assert stored.next_attempt_at == T0 + timedelta(minutes=5)
    assert stored.last_error is not None and MOBILE not in stored.last_error
    assert crm.reminders.dispatch(sender, now=T0 + timedelta(minutes=4)).claimed == 0
    crm.reminders.dispatch(sender, now=T0 + timedelta(minutes=5))
    assert crm.reminders.get(r.id).next_attempt_at == T0 + timedelta(minutes=15)  # 5 min after, then 10
    assert crm.reminders.dispatch(sender, now=T0 + timedelta(minutes=15)).sent == 1
    stored = crm.reminders.get(r.id)
    assert stored.status == "sent" and stored.attempts == 2
    assert {m.idempotency_key for m in sender.calls} == {r.idempotency_key} and len(sender.calls) == 3


def test_permanent_failure_ends_failed(crm: ClinicCRM, patient: Patient) -> None:
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    report = crm.reminders.dispatch(FailingSender(times=None, retryable=False), now=T0)
    assert (report.failed, report.gave_up) == (1, 1)
    stored = crm.reminders.get(r.id)
    assert (stored.status, stored.attempts) == ("failed", 1)


def test_too_many_retryable_failures_end_failed(crm: ClinicCRM, patient: Patient) -> None:
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    sender = FailingSender(times=None, retryable=True)
    now, failed = T0, 0
    for _ in range(5):
        failed += crm.reminders.dispatch(sender, now=now).failed
        now += timedelta(days=1)
    assert failed == 5 and len(sender.calls) == 5
    stored = crm.reminders.get(r.id)
    assert (stored.status, stored.attempts) == ("failed", 5)
    # the policy is configurable
    r2 = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=now)
    crm.reminders.dispatch(sender, now=now, policy=RetryPolicy(max_attempts=1))
    assert crm.reminders.get(r2.id).status == "failed"


def test_a_broken_sender_does_not_stop_the_batch(crm: ClinicCRM, make_patient: Callable[..., Patient]) -> None:
    class Flaky:
        def __init__(self) -> None:
            self.calls = 0
            self.ok: list[OutboundMessage] = []

        def send(self, message: OutboundMessage) -> str:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError(f"boom for {message.to}")
            self.ok.append(message)
            return "ok"

    ids = [crm.reminders.schedule(make_patient().id, kind="recall", purpose="care", due_at=T0).id for _ in range(3)]
    sender = Flaky()
    report = crm.reminders.dispatch(sender, now=T0)
    assert (report.failed, report.sent) == (1, 2)
    first = crm.reminders.get(ids[0])
    assert first.status == "pending" and first.attempts == 1
    assert first.last_error == "RuntimeError raised by the sender"


def test_delivery_error_text_never_keeps_the_address(crm: ClinicCRM, patient: Patient) -> None:
    class Leaky:
        def send(self, message: OutboundMessage) -> str:
            raise DeliveryError(f"gateway refused {message.to}", retryable=False)

    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.dispatch(Leaky(), now=T0)
    error = crm.reminders.get(r.id).last_error
    assert error == "DeliveryError permanent"  # structured facts only: no address, no word of the message


def test_delivery_error_keeps_the_provider_code(crm: ClinicCRM, patient: Patient) -> None:
    class Busy:
        def send(self, message: OutboundMessage) -> str:
            raise DeliveryError(f"busy, try {message.to} later", retryable=True, code=503)

    class Odd:
        def send(self, message: OutboundMessage) -> str:
            raise DeliveryError("refused", retryable=False, code=message.to)  # a code that is not one

    busy = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.dispatch(Busy(), now=T0)
    assert crm.reminders.get(busy.id).last_error == "DeliveryError retryable code=503"
    odd = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.dispatch(Odd(), now=T0)
    assert crm.reminders.get(odd.id).last_error == "DeliveryError permanent"


# --- limit, consent re-check, claims ---------------------------------------------------------------------------------


def test_limit_caps_the_claims(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    for n in range(5):
        crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 - timedelta(minutes=n))
    report = crm.reminders.dispatch(sender, now=T0, limit=2)
    assert (report.claimed, report.sent) == (2, 2)
    assert len(crm.reminders.list(status="pending")) == 3
    assert crm.reminders.dispatch(sender, now=T0, limit=0).claimed == 0
    assert crm.reminders.dispatch(sender, now=T0, batch_size=2).sent == 3


def test_stop_arriving_mid_batch_wins(crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient]) -> None:
    first = make_patient()
    second = make_patient(phone=MOBILE_2)
    a = crm.reminders.schedule(first.id, kind="recall", purpose="care", due_at=T0 - MIN)
    b = crm.reminders.schedule(second.id, kind="recall", purpose="care", due_at=T0)

    class ReplyingSender(RecordingSender):
        def send(self, message: OutboundMessage) -> str:
            if message.reminder_id == a.id:  # while the first is sent, the second patient texts STOP
                assert crm.reminders.handle_reply(clinic.id, phone="0922-333-444", text="STOP", at=T0 - MIN)
            return super().send(message)

    sender = ReplyingSender()
    report = crm.reminders.dispatch(sender, now=T0)
    assert (report.sent, report.suppressed_by_reason) == (1, {"no_consent": 1})
    assert crm.reminders.get(b.id).suppressed_reason == "no_consent"
    assert [m.reminder_id for m in sender.messages] == [a.id]


@pytest.mark.parametrize("ending", ["cancel", "mark_no_show"])
def test_visit_ended_mid_batch_cancels_its_reminder(
    crm: ClinicCRM, make_patient: Callable[..., Patient], ending: str
) -> None:
    first = make_patient()
    second = make_patient(phone=MOBILE_2)
    a = crm.reminders.schedule(first.id, kind="recall", purpose="care", due_at=T0 - MIN)
    visit = crm.visits.book(second.id, starts_at=T0 + DAY, kind="cleaning")
    b = crm.reminders.schedule(second.id, kind="appointment", purpose="care", due_at=T0, visit_id=visit.id)

    class FrontDeskSender(RecordingSender):
        def send(self, message: OutboundMessage) -> str:
            if message.reminder_id == a.id:  # while the first is sent, the front desk ends the second's visit
                getattr(crm.visits, ending)(visit.id, at=T0 - MIN)
            return super().send(message)

    sender = FrontDeskSender()
    report = crm.reminders.dispatch(sender, now=T0)
    assert (report.claimed, report.sent, report.cancelled, report.fenced) == (2, 1, 1, 0)
    assert [m.reminder_id for m in sender.messages] == [a.id]
    assert crm.reminders.get(b.id).status == "cancelled"
    assert crm.reminders.dispatch(sender, now=T0 + DAY).claimed == 0


def test_dispatch_refuses_to_run_inside_a_transaction(crm: ClinicCRM, sender: RecordingSender) -> None:
    with pytest.raises(ClinicCRMError, match="transaction"), crm.transaction() as tx:
        tx.reminders.dispatch(sender, now=T0)


def test_dispatch_validates_arguments(crm: ClinicCRM, sender: RecordingSender) -> None:
    from clinic_crm import NaiveDatetimeError, ValidationError

    with pytest.raises(NaiveDatetimeError):
        crm.reminders.dispatch(sender, now=datetime(2026, 3, 2, 9, 0))
    with pytest.raises(ValidationError):
        crm.reminders.dispatch(sender, now=T0, limit=-1)
    with pytest.raises(ValidationError):
        crm.reminders.dispatch(sender, now=T0, lease=timedelta(0))
    with pytest.raises(ValidationError):
        crm.reminders.dispatch(object(), now=T0)


def test_claimed_rows_are_leased_and_taken_over_with_the_same_key(crm: ClinicCRM, patient: Patient) -> None:
    first = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 - MIN)
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    lease = timedelta(minutes=10)
    other = RecordingSender()
    seen: dict[str, object] = {}

    class Stalling(RecordingSender):
        """Stalls in its first send (``first``) while ``r``, claimed in the same batch, waits its turn."""

        def send(self, message: OutboundMessage) -> str:
            if message.reminder_id == first.id:
                claimed = crm.reminders.get(r.id)
                seen["claimed"] = (
                    claimed.status,
                    claimed.claim_token is not None,
                    claimed.ready_at,
                    claimed.claimed_at,
                )
                seen["early"] = crm.reminders.dispatch(other, now=T0 + lease - MIN).claimed  # lease still held
                seen["late"] = crm.reminders.dispatch(other, now=T0 + lease).sent  # taken over
            return super().send(message)

    stale = Stalling(prefix="stale")
    stale_report = crm.reminders.dispatch(stale, now=T0, lease=lease)
    assert seen == {"claimed": ("sending", True, T0 + lease, T0), "early": 0, "late": 2}
    taken = crm.reminders.get(r.id)
    assert taken.status == "sent" and taken.provider_id is not None and taken.provider_id.startswith("rec-")
    assert other.for_reminder(r.id)[0].idempotency_key == r.idempotency_key == taken.idempotency_key
    # the stale dispatcher wakes up: its claim on r was taken over, so it sends nothing more and writes nothing
    assert [m.reminder_id for m in stale.messages] == [first.id]  # only the in-flight one went out twice
    assert (stale_report.fenced, stale_report.sent) == (2, 0)
    final = crm.reminders.get(r.id)
    assert final.status == "sent" and final.provider_id == taken.provider_id and final.sent_at == T0 + lease


def test_a_slow_batch_extends_the_lease_of_its_tail_once_a_tenth_has_gone_by(
    crm: ClinicCRM, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim is checked (not rewritten) per message; the rows still held get ``now + lease`` all at once."""
    ids = [crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 - n * MIN).id for n in (3, 2, 1)]
    lease = timedelta(minutes=10)
    clock = [T0]
    monkeypatch.setattr(dispatch_module, "claim_run_clock", lambda now, **_: lambda: clock[0])
    seen: dict[int, list[datetime]] = {}

    class Slow(RecordingSender):
        """Each provider call takes 2 minutes; records the lease end of the reminders still waiting."""

        def send(self, message: OutboundMessage) -> str:
            seen[message.reminder_id] = [crm.reminders.get(i).ready_at for i in ids[len(seen) + 1 :]]
            clock[0] += 2 * MIN
            return super().send(message)

    report = crm.reminders.dispatch(Slow(), lease=lease)
    assert report.sent == 3 and report.fenced == 0
    assert seen[ids[0]] == [T0 + lease] * 2  # claimed at T0: the full lease ahead, nothing rewritten
    assert seen[ids[1]] == [T0 + 2 * MIN + lease]  # 2 minutes gone (more than a tenth): the tail was extended
    assert seen[ids[2]] == []
    assert [crm.reminders.get(i).status for i in ids] == ["sent"] * 3


def test_a_tail_extended_past_the_first_lease_is_not_taken_over(
    crm: ClinicCRM, patient: Patient, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 - 2 * MIN)
    second = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 - MIN)
    lease = timedelta(minutes=10)
    clock = [T0]
    monkeypatch.setattr(dispatch_module, "claim_run_clock", lambda now, **_: lambda: clock[0])
    taken: dict[str, int] = {}
    other = RecordingSender(prefix="other")

    class Slow(RecordingSender):
        def send(self, message: OutboundMessage) -> str:
            clock[0] += 5 * MIN
            if message.reminder_id == second.id:  # extended at T0 + 5 to T0 + 15: still ours at T0 + 11
                with monkeypatch.context() as patched:
                    patched.setattr(dispatch_module, "claim_run_clock", lambda now, **_: lambda: T0 + 11 * MIN)
                    taken["claimed"] = crm.reminders.dispatch(other, now=T0 + 11 * MIN).claimed
            return super().send(message)

    sender = Slow()
    report = crm.reminders.dispatch(sender, lease=lease)
    assert [m.reminder_id for m in sender.messages] == [first.id, second.id]
    assert taken == {"claimed": 0} and other.messages == []
    assert report.sent == 2 and report.fenced == 0


def _taken_over_while_sending(crm: ClinicCRM, outcome: Callable[[OutboundMessage], str]) -> type:
    """A sender whose provider call outlives the lease: another dispatcher takes the reminder over meanwhile."""

    class SlowSender:
        def __init__(self) -> None:
            self.messages: list[OutboundMessage] = []
            self.newer = RecordingSender(prefix="newer")

        def send(self, message: OutboundMessage) -> str:
            self.messages.append(message)
            crm.reminders.dispatch(self.newer, now=T0 + timedelta(minutes=11))  # the lease (10 min) is over
            return outcome(message)

    return SlowSender


@pytest.mark.parametrize("fails", [False, True])
def test_in_flight_message_of_a_stale_dispatcher_cannot_overwrite_the_newer_outcome(
    crm: ClinicCRM, patient: Patient, fails: bool
) -> None:
    def outcome(message: OutboundMessage) -> str:
        if fails:
            raise DeliveryError("timeout", retryable=True)
        return "stale-id"

    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 + MIN)
    sender = _taken_over_while_sending(crm, outcome)()
    report = crm.reminders.dispatch(sender, now=T0 + MIN, lease=timedelta(minutes=10))
    # the in-flight message went out twice, with the same key; the rest of the batch only once
    assert [m.reminder_id for m in sender.messages] == [r.id]
    assert sorted(m.reminder_id for m in sender.newer.messages)[0] == r.id
    assert len(sender.newer.messages) == 2
    assert sender.newer.for_reminder(r.id)[0].idempotency_key == sender.messages[0].idempotency_key
    assert report.fenced == 2 and report.sent == 0 and report.failed == (1 if fails else 0)
    stored = crm.reminders.get(r.id)
    assert (stored.status, stored.provider_id, stored.attempts) == ("sent", "newer-1", 0)


def test_claim_query_uses_an_index_in_claim_order(crm: ClinicCRM) -> None:
    dialect = crm.engine.dialect
    query = claim_query(dialect.name, 100, T0)
    compiled = query.compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    with crm.engine.connect() as conn:
        if dialect.name == "sqlite":
            plan = " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        else:
            # an empty table's plan depends on leftover statistics: a bitmap scan then a sort of the "2 rows" may
            # look cheaper; what this test asks is that an index gives the claim order (the 1M plan is the bench's)
            conn.execute(text("SET enable_seqscan = off"))
            conn.execute(text("SET enable_bitmapscan = off"))
            plan = " ".join(str(row[0]) for row in conn.execute(text(f"EXPLAIN {compiled}")))
    # SQLite: two range scans of (status, ready_at); PostgreSQL: the partial index of claimable rows, no sort
    expected = "ix_reminder_status_ready_at" if dialect.name == "sqlite" else "ix_reminder_claimable"
    assert expected in plan, plan
    assert "Sort" not in plan and "TEMP B-TREE" not in plan, plan


def test_visit_cancelled_after_the_claim_cancels_its_reminder(crm: ClinicCRM, patient: Patient) -> None:
    visit = crm.visits.book(patient.id, starts_at=T0 + timedelta(days=1), kind="checkup")
    r = crm.reminders.schedule(patient.id, kind="appointment", purpose="care", due_at=T0, visit_id=visit.id)

    class Dying(RecordingSender):
        def send(self, message: OutboundMessage) -> str:
            raise KeyboardInterrupt  # the dispatcher dies in its send: the reminder stays claimed

    with pytest.raises(KeyboardInterrupt):
        crm.reminders.dispatch(Dying(), now=T0)
    crm.visits.cancel(visit.id, at=T0, reason="called in")  # cancel_visit_reminders skips the claimed row
    assert crm.reminders.get(r.id).status == "sending"
    sender = RecordingSender()
    report = crm.reminders.dispatch(sender, now=T0 + timedelta(minutes=10))  # the take-over
    assert (report.cancelled, report.sent, sender.messages) == (1, 0, [])
    assert crm.reminders.get(r.id).status == "cancelled"


def test_dispatch_without_now_uses_the_clock(
    crm: ClinicCRM, clinic: Clinic, patient: Patient, sender: RecordingSender
) -> None:
    crm.clinics.update(clinic.id, quiet_hours=(time(0), time(0)))  # no quiet hours: the test may run at night
    r = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=datetime.now(UTC) - MIN)
    later = crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=datetime.now(UTC) + DAY)
    before = datetime.now(UTC)
    assert crm.reminders.dispatch(sender).sent == 1
    stored = crm.reminders.get(r.id)
    assert stored.status == "sent" and stored.sent_at is not None and before <= stored.sent_at <= datetime.now(UTC)
    assert crm.reminders.get(later.id).status == "pending"


def test_threads_dispatching_at_once_send_each_reminder_once(
    crm: ClinicCRM, make_patient: Callable[..., Patient]
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    patients = [make_patient(phone=f"+8869{n:08d}") for n in range(10_000_000, 10_000_010)]
    ids = [
        crm.reminders.schedule(p.id, kind="recall", purpose="care", due_at=T0 - timedelta(minutes=n)).id
        for p in patients
        for n in range(12)
    ]
    sender = RecordingSender()

    def run(_: int) -> DispatchReport:
        return crm.reminders.dispatch(sender, now=T0, batch_size=7)

    with ThreadPoolExecutor(4) as pool:
        reports = list(pool.map(run, range(4)))
    assert sum(r.sent for r in reports) == len(ids) == 120
    assert sorted(m.reminder_id for m in sender.messages) == sorted(ids)
    assert {crm.reminders.get(i).status for i in ids} == {"sent"}


def test_reports_merge() -> None:
    a = DispatchReport(sent=1, suppressed=2, suppressed_by_reason={"no_consent": 2})
    b = DispatchReport(sent=3, failed=1, suppressed=1, suppressed_by_reason={"no_consent": 1})
    merged = a.merge(b)
    assert (merged.sent, merged.failed, merged.suppressed, merged.suppressed_by_reason) == (4, 1, 3, {"no_consent": 3})


def test_an_interrupted_dispatcher_hands_back_what_it_did_not_reach(
    crm: ClinicCRM, make_patient: Callable[..., Patient]
) -> None:
    ids = [
        crm.reminders.schedule(make_patient().id, kind="recall", purpose="care", due_at=T0 - timedelta(minutes=n)).id
        for n in range(4, 0, -1)
    ]

    class Interrupted(RecordingSender):
        def send(self, message: OutboundMessage) -> str:
            if len(self.messages) == 1:
                raise KeyboardInterrupt
            return super().send(message)

    with pytest.raises(KeyboardInterrupt):
        crm.reminders.dispatch(Interrupted(), now=T0)
    statuses = [crm.reminders.get(i).status for i in ids]
    assert statuses == ["sent", "sending", "pending", "pending"]  # the in-flight one waits for its lease
    assert [crm.reminders.get(i).ready_at for i in ids[2:]] == [T0 - timedelta(minutes=2), T0 - MIN]
    later = RecordingSender()
    assert crm.reminders.dispatch(later, now=T0).sent == 2
    assert crm.reminders.dispatch(later, now=T0 + timedelta(minutes=10)).sent == 1  # lease over: taken over
    assert sorted(m.reminder_id for m in later.messages) == sorted(ids[1:])
