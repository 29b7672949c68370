"""handle_reply (opt-out keywords) and message templates (built-in, clinic overrides, opt-out line)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from clinic_crm import ClinicCRM, InvalidPhoneNumber, NaiveDatetimeError, ValidationError
from clinic_crm.models import Clinic, Patient
from clinic_crm.services.consent import consent_history
from clinic_crm.services.reminders.replies import is_opt_out
from clinic_crm.testing import RecordingSender
from tests.conftest import T0, count_rows
from tests.services.reminders.conftest import MOBILE, MOBILE_2

MIN = timedelta(minutes=1)


@pytest.mark.parametrize(
    "text",
    [
        "STOP",
        "stop",
        " stop ",
        "ＳＴＯＰ",
        "Stop\n",
        "STOPALL",
        "unsubscribe",
        "QUIT",
        "End",
        "revoke",
        "OPT OUT",
        "opt   out",
        "Ｏｐｔ　Ｏｕｔ",
        "退訂",
        " 退訂 ",
        "取消訂閱",
    ],
)
def test_opt_out_keywords(text: str) -> None:
    assert is_opt_out(text)


@pytest.mark.parametrize("text", ["CANCEL", "cancel my appointment", "stop it please", "STOP!", "OPTOUT", "", "退"])
def test_other_text_is_not_an_opt_out(text: str) -> None:
    assert not is_opt_out(text)


@pytest.mark.parametrize("text", ["ＳＴＯＰ", " stop ", "退訂"])
def test_stop_withdraws_sms_consent_of_every_patient_on_the_number(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient], sender: RecordingSender, text: str
) -> None:
    mother, child = make_patient(), make_patient(given_name="小華")
    other = make_patient(phone=MOBILE_2)
    second_clinic = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    elsewhere = crm.patients.register(second_clinic.id, family_name="王", given_name="大明", phone=MOBILE)
    for p in (mother, child, other, elsewhere):
        crm.patients.grant_consent(p.id, "sms", "marketing", source="form", at=T0 - 2 * MIN)
    assert crm.reminders.handle_reply(clinic.id, phone="0912 345 678", text=text, at=T0 - MIN) is True
    with crm.transaction() as tx:
        assert tx.session is not None
        events = consent_history(tx.session, mother.id)
    withdrawn = {(e.channel, e.purpose) for e in events if not e.granted}
    assert withdrawn == {("sms", "care"), ("sms", "marketing")}
    assert {e.source for e in events if not e.granted} == {"sms reply"}
    ids = {}
    for p in (mother, child, other, elsewhere):
        for purpose in ("care", "marketing"):
            ids[(p.id, purpose)] = crm.reminders.schedule(p.id, kind="recall", purpose=purpose, due_at=T0).id
    mail = crm.reminders.schedule(mother.id, kind="recall", purpose="care", due_at=T0, channel="email")
    crm.reminders.dispatch(sender, now=T0)
    for p in (mother, child):
        for purpose in ("care", "marketing"):
            assert crm.reminders.get(ids[(p.id, purpose)]).suppressed_reason == "no_consent"
    for p in (other, elsewhere):
        for purpose in ("care", "marketing"):
            assert crm.reminders.get(ids[(p.id, purpose)]).status == "sent"
    assert crm.reminders.get(mail.id).status == "sent"  # e-mail consent untouched
    [reply] = crm.reminders.replies(clinic.id)
    assert reply.opt_out and reply.phone == MOBILE and reply.text == text


def test_cancel_is_kept_for_staff_and_changes_no_consent(
    crm: ClinicCRM, clinic: Clinic, patient: Patient, sender: RecordingSender
) -> None:
    assert crm.reminders.handle_reply(clinic.id, phone=MOBILE, text="CANCEL", at=T0 - MIN) is False
    assert count_rows(crm, "consent_event") == 0
    [reply] = crm.reminders.replies(clinic.id, opt_out=False)
    assert (reply.text, reply.opt_out, reply.received_at) == ("CANCEL", False, T0 - MIN)
    assert crm.reminders.replies(clinic.id, opt_out=True) == []
    crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    assert crm.reminders.dispatch(sender, now=T0).sent == 1


def test_reply_from_unparsable_phone_raises_and_writes_nothing(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        crm.reminders.handle_reply(clinic.id, phone="not a phone", text="STOP", at=T0)
    assert info.value.value == "not a phone" and "not a phone" not in str(info.value)
    with pytest.raises(NaiveDatetimeError):
        crm.reminders.handle_reply(clinic.id, phone=MOBILE, text="STOP", at=T0.replace(tzinfo=None))
    assert count_rows(crm, "inbound_reply") == 0 and count_rows(crm, "consent_event") == 0


def test_stop_after_now_does_not_suppress_earlier_sends(
    crm: ClinicCRM, clinic: Clinic, patient: Patient, sender: RecordingSender
) -> None:
    crm.reminders.handle_reply(clinic.id, phone=MOBILE, text="STOP", at=T0 + MIN)
    crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    assert crm.reminders.dispatch(sender, now=T0).sent == 1
    crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0)
    assert crm.reminders.dispatch(sender, now=T0 + MIN).suppressed == 1


# --- templates -------------------------------------------------------------------------------------------------


def test_clinic_template_override_is_used_for_its_locale_only(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    zh = make_patient()
    en = make_patient(family_name="Lee", given_name="Amy", locale="en", phone=MOBILE_2)
    crm.reminders.set_template(
        clinic.id, kind="recall", channel="sms", locale="zh_TW", body="{clinic}提醒{name}：該洗牙囉！"
    )
    for p in (zh, en):
        crm.reminders.schedule(p.id, kind="recall", purpose="care", due_at=T0)
    crm.reminders.dispatch(sender, now=T0)
    by_to = {m.to: m.body for m in sender.messages}
    assert by_to[MOBILE] == "Sunrise Dental提醒王小明：該洗牙囉！"
    assert by_to[MOBILE_2].startswith("Sunrise Dental: Hi Amy Lee,")
    # replacing it keeps one row
    crm.reminders.set_template(clinic.id, kind="recall", channel="sms", locale="zh_TW", body="{name}，回診囉")
    assert count_rows(crm, "message_template") == 1


def test_marketing_override_without_opt_out_gets_the_line(
    crm: ClinicCRM, clinic: Clinic, make_patient: Callable[..., Patient], sender: RecordingSender
) -> None:
    p = make_patient(locale="en", email="amy@example.com")
    crm.patients.grant_consent(p.id, "email", "marketing", source="form", at=T0 - MIN)
    crm.reminders.set_template(
        clinic.id,
        kind="promo",
        channel="email",
        locale="en",
        body="Dear {name}, 20% off whitening this month.",
        subject="{clinic} offer",
    )
    crm.reminders.schedule(p.id, kind="promo", purpose="marketing", due_at=T0, channel="email")
    crm.reminders.dispatch(sender, now=T0)
    [m] = sender.messages
    assert m.subject == "Sunrise Dental offer"
    assert m.body.startswith("Dear 王小明, 20% off whitening this month.\n")
    assert m.body.endswith("To stop receiving these messages, reply with UNSUBSCRIBE.")


def test_survey_template_renders_the_url(crm: ClinicCRM, patient: Patient, sender: RecordingSender) -> None:
    crm.reminders.schedule(
        patient.id,
        kind="survey",
        purpose="care",
        due_at=T0,
        payload={"url": "https://c.example/s/tok123", "survey_name": "After visit"},
    )
    crm.reminders.dispatch(sender, now=T0)
    assert "https://c.example/s/tok123" in sender.messages[0].body


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"body": "Hi {patient.phone}"}, "body"),
        ({"body": "Hi {email}"}, "body"),
        ({"body": "Hi {0}"}, "body"),
        ({"body": "Hi {name"}, "body"),
        ({"body": "Hi {name:>10}"}, "body"),
        ({"body": " "}, "body"),
        ({"channel": "fax"}, "channel"),
        ({"locale": "xx_YY"}, "locale"),
        ({"subject": "Hello"}, "subject"),  # SMS has no subject
    ],
)
def test_set_template_rejects_fields_a_template_must_not_see(
    crm: ClinicCRM, clinic: Clinic, kwargs: dict[str, str], field: str
) -> None:
    args = {"kind": "recall", "channel": "sms", "locale": "en", "body": "Hi {name}", **kwargs}
    with pytest.raises(ValidationError) as info:
        crm.reminders.set_template(clinic.id, **args)
    assert info.value.field == field
    assert count_rows(crm, "message_template") == 0
