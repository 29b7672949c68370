"""No patient name, phone or e-mail in an event error, a log line, an ``.ics`` or a reminder payload."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM, ClinicCRMError
from clinic_crm.cli import main
from clinic_crm.testing import RecordingSender
from tests.conftest import T0

from .conftest import ENDS, STARTS, EventFactory, PatientFactory

SECRETS = ("Zyxwar", "Quobble", "912345678", "quobble.zyxwar")


def test_events_keep_patient_data_out(
    crm: ClinicCRM,
    db_url: str,
    make_event: EventFactory,
    make_patient: PatientFactory,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    event = make_event(capacity=1)
    patient = make_patient(
        family_name="Zyxwar", given_name="Quobble", phone="0912-345-678", email="quobble.zyxwar@example.com"
    )
    other = make_patient()
    registration = crm.events.register(event.id, patient_id=patient.id, at=T0)
    crm.events.invite(event.id, patient_ids=[patient.id, other.id], at=T0)  # type: ignore[list-item]
    crm.reminders.plan(now=T0, horizon=timedelta(days=7))
    errors: list[str] = []
    failing: list[Callable[[], object]] = [
        lambda: crm.events.register(event.id, patient_id=patient.id, at=T0),
        lambda: crm.events.check_in(crm.events.register(event.id, patient_id=other.id, at=T0).id, at=STARTS),
        lambda: crm.events.close(event.id, at=T0),
        lambda: crm.events.update(event.id, at=T0, capacity=None, location=""),
    ]
    for call in failing:
        with pytest.raises(ClinicCRMError) as info:
            call()
        errors.append(str(info.value))
    crm.events.update(event.id, at=T0, location="2F")
    crm.events.cancel(event.id, at=T0, reason="typhoon")
    crm.reminders.dispatch(RecordingSender(), now=T0)
    assert main(["events", "registrations", "--db", db_url, str(event.id)]) == 0
    with crm.engine.connect() as conn:
        payloads = [str(p) for (p,) in conn.execute(text("SELECT payload FROM reminder"))]
    where = {
        "errors": "\n".join(errors),
        "logs": caplog.text,
        "ics": crm.events.ics(event.id),
        "payloads": "\n".join(payloads),
        "cli": capsys.readouterr().out,
    }
    for name, blob in where.items():
        for secret in SECRETS:
            assert secret not in blob, f"{name} contains patient data ({secret!r})"
    assert registration.status == "registered" and ENDS > STARTS
