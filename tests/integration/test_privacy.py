"""No patient name, phone or e-mail reaches a log line, an exception message or a stored error text."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM, ClinicCRMError, DeliveryError, OutboundMessage, Question
from clinic_crm.models import Clinic
from clinic_crm.testing import RecordingSender
from tests.conftest import T0

NAME_FAMILY, NAME_GIVEN = "Zyxwar", "Quobble"
PHONE_LOCAL, PHONE_E164 = "0912-345-678", "+886912345678"
EMAIL = "quobble.zyxwar@example.com"
SECRETS = (NAME_FAMILY, NAME_GIVEN, "912345678", "912-345-678", "quobble.zyxwar", "Quobble Zyxwar")


class LeakySender:
    """A sender whose provider echoes the address back in its error, as real providers do."""

    def send(self, message: OutboundMessage) -> str:
        raise DeliveryError(f"provider refused {message.to}: {message.body[:40]}", retryable=True)


def _assert_clean(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} contains patient data ({secret!r})"


def test_full_flow_keeps_patient_data_out_of_logs_and_errors(
    crm: ClinicCRM, clinic: Clinic, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG)
    cid: int = clinic.id  # type: ignore[assignment]
    errors: list[str] = []

    def expect_error(call: object, *args: object, **kwargs: object) -> None:
        with pytest.raises(ClinicCRMError) as info:
            call(*args, **kwargs)  # type: ignore[operator]
        errors.extend([str(info.value), repr(info.value)])

    patient = crm.patients.register(
        cid, family_name=NAME_FAMILY, given_name=NAME_GIVEN, phone=PHONE_LOCAL, email=EMAIL, external_id="P1"
    )
    pid: int = patient.id  # type: ignore[assignment]
    expect_error(crm.patients.register, cid, family_name=NAME_FAMILY, given_name=NAME_GIVEN, external_id="P1")
    expect_error(crm.patients.register, cid, family_name=NAME_FAMILY, given_name=NAME_GIVEN, phone="0912-345")
    expect_error(crm.patients.register, cid, family_name=NAME_FAMILY, given_name=NAME_GIVEN, email="quobble.zyxwar@")
    expect_error(crm.patients.update, pid, email="quobble.zyxwar@@example.com")
    expect_error(crm.patients.find, cid, phone="0912-345")

    csv_path = tmp_path / "patients.csv"
    csv_path.write_text(
        "family_name,given_name,phone,email,external_id\n"
        f"{NAME_FAMILY},{NAME_GIVEN},0912-345,{EMAIL},P2\n"
        f"{NAME_FAMILY},{NAME_GIVEN},{PHONE_LOCAL},quobble.zyxwar@,P3\n",
        encoding="utf-8",
    )
    report = crm.patients.import_csv(cid, csv_path)
    assert len(report.rejected) == 2
    errors.extend(str(r) for r in report.rejected)
    errors.extend(r.reason for r in report.rejected)

    visit = crm.visits.book(pid, starts_at=T0 + timedelta(days=2), kind="checkup")
    expect_error(crm.visits.complete, visit.id, at=T0)
    crm.reminders.schedule(pid, kind="recall", purpose="care", due_at=T0, channel="sms")
    crm.reminders.schedule(pid, kind="recall", purpose="care", due_at=T0, channel="email")
    result = crm.reminders.dispatch(LeakySender(), now=T0 + timedelta(hours=2))  # 10:00 Taipei
    assert result.failed == 2
    stored = crm.reminders.list(patient_id=pid)
    assert len(stored) == 2 and all(r.last_error for r in stored)
    for reminder in stored:
        errors.append(str(reminder.last_error or ""))
        errors.append(repr(reminder))
    errors.append(repr(patient))

    assert crm.reminders.handle_reply(cid, phone=PHONE_LOCAL, text="STOP", at=T0 + timedelta(hours=3))
    assert not crm.reminders.handle_reply(cid, phone=PHONE_LOCAL, text="CANCEL", at=T0 + timedelta(hours=3))

    crm.visits.check_in(visit.id, at=T0 + timedelta(days=2))
    crm.visits.complete(visit.id, at=T0 + timedelta(days=2, hours=1))
    survey = crm.surveys.create(cid, name="after visit", questions=[Question("nps", "nps", "Recommend us?")])
    invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0 + timedelta(days=2, hours=2))
    expect_error(crm.surveys.submit, invitation.token, {"nps": 11}, at=T0 + timedelta(days=3))
    crm.surveys.submit(invitation.token, {"nps": 2}, at=T0 + timedelta(days=3))
    crm.reminders.dispatch(RecordingSender(), now=T0 + timedelta(days=4, hours=2))

    for text in errors:
        _assert_clean(text, "an error")
    for record in caplog.records:
        _assert_clean(record.getMessage(), f"log line of {record.name}")
        if record.exc_text:
            _assert_clean(record.exc_text, f"traceback logged by {record.name}")
