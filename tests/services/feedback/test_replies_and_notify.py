"""SMS replies that are not opt-outs become question cases; ``acknowledge(notify=True)`` tells the patient."""

from __future__ import annotations

from datetime import datetime, timedelta

from clinic_crm import ClinicCRM, Patient
from clinic_crm.testing import RecordingSender
from tests.conftest import T0, count_rows
from tests.services.feedback.conftest import LNY_FRIDAY, CaseFactory

H = timedelta(hours=1)


def test_a_reply_that_is_not_an_opt_out_becomes_a_question(crm: ClinicCRM, cid: int, patient: Patient) -> None:
    assert crm.reminders.handle_reply(cid, phone="0912 345 678", text=" 可以改約嗎？\n", at=T0) is False
    [case] = crm.feedback.list(cid, now=T0)
    assert (case.kind, case.channel, case.priority, case.status) == ("question", "sms", "normal", "open")
    assert (case.patient_id, case.text, case.received_at) == (patient.id, "可以改約嗎？", T0)
    assert case.acknowledge_due_at == crm.clinics.add_working_days(cid, T0, 2)
    assert [e.kind for e in crm.feedback.history(case.id)] == ["recorded"]  # type: ignore[arg-type]
    assert len(crm.reminders.replies(cid, opt_out=False)) == 1  # the reply itself is kept as before


def test_the_patient_is_set_only_when_exactly_one_has_the_number(crm: ClinicCRM, cid: int, patient: Patient) -> None:
    crm.reminders.handle_reply(cid, phone="0987-654-321", text="who is this?", at=T0)
    crm.patients.register(cid, family_name="王", given_name="大明", phone="0912-345-678")  # same number: family
    crm.reminders.handle_reply(cid, phone="0912-345-678", text="which of us?", at=T0 + H)
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    assert other.id is not None
    crm.patients.register(other.id, family_name="李", given_name="四", phone="0922-333-444")
    crm.reminders.handle_reply(cid, phone="0922-333-444", text="hello", at=T0 + 2 * H)  # another clinic's patient
    assert [c.patient_id for c in crm.feedback.list(cid, now=T0)] == [None, None, None]


def test_opt_outs_and_blank_replies_record_no_case(crm: ClinicCRM, cid: int, patient: Patient) -> None:
    assert crm.reminders.handle_reply(cid, phone="0912-345-678", text="STOP", at=T0) is True
    assert crm.reminders.handle_reply(cid, phone="0912-345-678", text="  ", at=T0) is False
    assert count_rows(crm, "feedback_case") == 0
    assert count_rows(crm, "inbound_reply") == 2


def test_acknowledge_with_notify_sends_one_care_message_in_the_patients_language(
    crm: ClinicCRM, cid: int, patient: Patient, make_case: CaseFactory
) -> None:
    case = make_case(patient_id=patient.id, at=LNY_FRIDAY, text="醫師態度不好")
    assert case.id is not None
    at = datetime(2026, 2, 23, 10, 0, tzinfo=LNY_FRIDAY.tzinfo)
    crm.feedback.acknowledge(case.id, at=at, by="Ms Lin", notify=True)
    [reminder] = crm.reminders.list(patient_id=patient.id)
    assert (reminder.kind, reminder.purpose, reminder.due_at, reminder.status) == (
        "case_acknowledged",
        "care",
        at,
        "pending",
    )
    sender = RecordingSender()
    assert crm.reminders.dispatch(sender, now=at).sent == 1
    [message] = sender.messages
    assert message.locale == "zh_TW" and message.channel == "sms"
    assert "已收到" in message.body
    assert "2026年3月" in message.body  # answer by the resolve due time (20 working days)
    assert "醫師態度不好" not in message.body  # never the patient's own text
    assert crm.reminders.dispatch(sender, now=at + H).sent == 0  # exactly once


def test_notify_in_english_and_without_a_resolve_target(crm: ClinicCRM, cid: int, make_case: CaseFactory) -> None:
    alice = crm.patients.register(cid, family_name="Smith", given_name="Alice", phone="0912-000-111", locale="en_US")
    case = make_case(patient_id=alice.id, kind="suggestion", text="more chairs")
    assert case.id is not None and case.resolve_due_at is None
    crm.feedback.acknowledge(case.id, at=T0 + H, by="A", notify=True)
    sender = RecordingSender()
    crm.reminders.dispatch(sender, now=T0 + H)
    [message] = sender.messages
    assert "we have received your message and will answer as soon as we can" in message.body
    assert "more chairs" not in message.body


def test_notify_without_a_patient_or_false_sends_nothing(
    crm: ClinicCRM, patient: Patient, make_case: CaseFactory
) -> None:
    anonymous = make_case()
    silent = make_case(patient_id=patient.id)
    crm.feedback.acknowledge(anonymous.id, at=T0 + H, by="A", notify=True)  # type: ignore[arg-type]
    crm.feedback.acknowledge(silent.id, at=T0 + H, by="A")  # type: ignore[arg-type]
    assert count_rows(crm, "reminder") == 0
