"""Event e-mails through a real local SMTP server (aiosmtpd) and the outbox: the ``.ics`` as a MIME part."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import icalendar

from clinic_crm import ClinicCRM
from clinic_crm.messaging.message import Attachment, OutboundMessage
from clinic_crm.messaging.outbox import OutboxSender, read_outbox
from clinic_crm.messaging.smtp import SmtpSender
from tests.conftest import T0
from tests.messaging.conftest import HOST, smtp_factory  # noqa: F401 - the fixture of a real local SMTP server

from .conftest import EventFactory, PatientFactory

FROM = "Sunrise Dental <no-reply@sunrise.example>"


def test_event_reminder_email_carries_the_ics_through_smtp(
    crm: ClinicCRM,
    make_event: EventFactory,
    make_patient: PatientFactory,
    smtp_factory: Callable[..., Any],  # noqa: F811
) -> None:
    event = make_event()
    patient = make_patient(phone=None)
    crm.events.register(event.id, patient_id=patient.id, at=T0)
    crm.events.cancel(event.id, at=T0 + timedelta(hours=1), reason="typhoon")
    server = smtp_factory("plain")
    with SmtpSender(HOST, server.port, from_addr=FROM, timeout=5) as sender:
        report = crm.reminders.dispatch(sender, now=T0 + timedelta(hours=1))
    assert report.sent == 1
    [envelope] = server.handler.envelopes
    mail = message_from_bytes(envelope.original_content, policy=policy.default)
    assert mail.get_content_type() == "multipart/mixed"
    assert mail["Subject"] == "活動取消：糖尿病衛教講座"
    assert mail["Content-Language"] == "zh-TW"
    body = mail.get_body(preferencelist=("plain",))
    assert body is not None and "已取消" in body.get_content()
    [part] = list(mail.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "PUBLISH"
    assert part.get_filename() == "event.ics"
    [vevent] = icalendar.Calendar.from_ical(part.get_content()).walk("VEVENT")
    assert str(vevent["STATUS"]) == "CANCELLED" and str(vevent["UID"]) == event.uid


def test_plain_messages_stay_single_part_and_the_outbox_keeps_attachments(tmp_path: Path) -> None:
    plain = OutboundMessage("k1", 1, 7, "email", "a@example.com", "Hello", "Body", "en")
    assert plain.attachments == ()
    mail = SmtpSender("localhost", from_addr=FROM).build(plain)
    assert mail.get_content_type() == "text/plain"
    ics = Attachment("event.ics", "text/calendar; method=PUBLISH", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    with_file = OutboundMessage("k2", 2, 7, "email", "a@example.com", "Hello", "Body", "en", attachments=(ics,))
    outbox = OutboxSender(tmp_path / "outbox.jsonl")
    outbox.send(plain)
    outbox.send(with_file)
    first, second = read_outbox(tmp_path / "outbox.jsonl")
    assert "attachments" not in first
    [stored] = second["attachments"]
    assert stored["filename"] == "event.ics" and stored["content_type"] == "text/calendar; method=PUBLISH"
    assert base64.b64decode(stored["data"]) == ics.data
    assert "VCALENDAR" not in repr(with_file) and "VCALENDAR" not in repr(ics)
