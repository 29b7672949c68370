"""``clinic-crm events``: list, create, registrations and the attendance report, in-process on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from clinic_crm.models import Clinic
from tests.conftest import T0

from .conftest import ENDS, STARTS, EventFactory, PatientFactory


def test_create_then_list(crm: ClinicCRM, db_url: str, clinic: Clinic, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["events", "create", "--db", db_url, "--clinic", str(clinic.id), "--title", "糖尿病衛教講座"]
    argv += ["--title-in", "en", "Living well with diabetes", "--kind", "health_talk"]
    argv += ["--starts", "2026-03-09T17:00", "--ends", "2026-03-09T19:00+08:00", "--location", "3F", "--capacity", "30"]
    assert main(argv) == 0
    assert "created event 1 (health_talk, 2026-03-09 17:00 local)" in capsys.readouterr().out
    [event] = crm.events.list(clinic.id)  # type: ignore[arg-type]
    assert event.starts_at == STARTS and event.ends_at == ENDS  # 17:00 in Taipei is 09:00 UTC
    assert event.title == {"zh_TW": "糖尿病衛教講座", "en": "Living well with diabetes"}
    assert main(["events", "list", "--db", db_url, "--clinic", str(clinic.id)]) == 0
    out = capsys.readouterr().out
    assert "1 event(s)" in out and "2026-03-09 17:00" in out and "0/30" in out and "糖尿病衛教講座" in out


def test_create_with_bad_input_exits_2_without_a_traceback(
    crm: ClinicCRM, db_url: str, clinic: Clinic, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["events", "create", "--db", db_url, "--clinic", str(clinic.id), "--title", "Talk", "--kind", "other"]
    argv += ["--starts", "tomorrow", "--ends", "2026-03-09T19:00", "--location", "3F"]
    assert main(argv) == 2
    assert "ValidationError" in capsys.readouterr().err
    assert crm.events.list(clinic.id) == []  # type: ignore[arg-type]


def test_registrations_hide_names_unless_asked(
    crm: ClinicCRM,
    db_url: str,
    make_event: EventFactory,
    make_patient: PatientFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = make_event(capacity=1)
    first, second = make_patient(given_name="小美"), make_patient(given_name="大同")
    crm.events.register(event.id, patient_id=first.id, at=T0)
    crm.events.register(event.id, patient_id=second.id, at=T0 + timedelta(minutes=1))
    assert main(["events", "registrations", "--db", db_url, str(event.id)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "1 seat(s) held of 1" in lines[0]
    assert "registered" in lines[1] and "waitlisted" in lines[2]
    assert "小美" not in out and "大同" not in out
    assert main(["events", "registrations", "--db", db_url, str(event.id), "--names", "--status", "waitlisted"]) == 0
    out = capsys.readouterr().out
    assert "王大同" in out and "小美" not in out


def test_report_by_kind(
    crm: ClinicCRM,
    db_url: str,
    clinic: Clinic,
    make_event: EventFactory,
    make_patient: PatientFactory,
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = make_event()
    came = crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    crm.events.register(event.id, patient_id=make_patient().id, at=T0)
    crm.events.check_in(came.id, at=STARTS)
    crm.events.close(event.id, at=ENDS)
    assert main(["events", "report", "--db", db_url, "--clinic", str(clinic.id), "--by", "kind"]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert rows["health_talk"] == ["1", "2", "1", "1", "50.0"]
    assert rows["total"] == ["1", "2", "1", "1", "50.0"]
    assert main(["events", "report", "--db", db_url, "--since", "2027-01-01"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].split() == ["total", "0", "0", "0", "0", "-"]
