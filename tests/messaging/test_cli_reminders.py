"""``clinic-crm reminders plan|dispatch`` on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from clinic_crm.cli.reminders import format_report, parse_duration, parse_instant
from clinic_crm.errors import NaiveDatetimeError, ValidationError
from clinic_crm.messaging.outbox import read_outbox
from clinic_crm.models import Clinic

from .conftest import free_port

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 17:00 in Taipei: outside quiet hours
NOW_ARG = "2026-03-02T17:00:00+08:00"


def _mix(crm: ClinicCRM, clinic: Clinic) -> dict[str, int]:
    """Three due SMS care reminders: one deliverable, one to a landline, one without consent."""
    ok = crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912-345-678")
    landline = crm.patients.register(clinic.id, family_name="李", given_name="美玲", phone="02 2345 6789")
    opted_out = crm.patients.register(clinic.id, family_name="陳", given_name="大文", phone="0922-111-333")
    crm.patients.withdraw_consent(opted_out.id, "sms", "care", source="test", at=NOW - timedelta(days=1))
    due = NOW - timedelta(minutes=5)
    return {
        name: crm.reminders.schedule(p.id, kind="appointment", purpose="care", due_at=due, channel="sms").id
        for name, p in (("ok", ok), ("landline", landline), ("opted_out", opted_out))
    }


def test_dispatch_to_outbox_prints_summary_by_reason(
    crm: ClinicCRM,
    clinic: Clinic,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _mix(crm, clinic)
    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("CLINIC_CRM_OUTBOX", str(outbox))
    monkeypatch.delenv("CLINIC_CRM_SENDER", raising=False)

    code = main(["reminders", "dispatch", "--db", db_url, "--now", NOW_ARG])

    out = capsys.readouterr().out
    assert code == 0
    assert "sent        1" in out
    assert "suppressed  2  (no_consent: 1, not_mobile: 1)" in out
    assert "failed      0" in out
    for secret in ("+886912345678", "王", "小明", "0912"):
        assert secret not in out
    [record] = list(read_outbox(outbox))
    assert record["reminder_id"] == ids["ok"] and record["to"] == "+886912345678"
    assert crm.reminders.get(ids["ok"]).status == "sent"
    assert crm.reminders.get(ids["landline"]).suppressed_reason == "not_mobile"


def test_dispatch_json_and_nothing_due_the_second_time(
    crm: ClinicCRM, clinic: Clinic, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _mix(crm, clinic)
    assert main(["reminders", "dispatch", "--db", db_url, "--now", NOW_ARG, "--sender", "null", "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["sent"], first["suppressed"], first["failed"]) == (1, 2, 0)
    assert first["suppressed_by_reason"] == {"no_consent": 1, "not_mobile": 1}
    assert main(["reminders", "dispatch", "--db", db_url, "--now", NOW_ARG, "--sender", "null", "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["sent"], again["suppressed"]) == (0, 0)


def test_dry_run_dispatch_sends_nothing_and_keeps_nothing(
    crm: ClinicCRM,
    clinic: Clinic,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _mix(crm, clinic)
    outbox = tmp_path / "outbox.jsonl"
    monkeypatch.setenv("CLINIC_CRM_OUTBOX", str(outbox))

    code = main(["reminders", "dispatch", "--db", db_url, "--now", NOW_ARG, "--dry-run", "--sender", "outbox"])

    out = capsys.readouterr().out
    assert code == 0
    assert "dry run" in out and "sent        1" in out and "not_mobile: 1" in out
    assert not outbox.exists()
    assert {crm.reminders.get(i).status for i in ids.values()} == {"pending"}


def test_failed_delivery_exits_1(
    crm: ClinicCRM, clinic: Clinic, db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ids = _mix(crm, clinic)
    monkeypatch.setenv("CLINIC_CRM_SMS_URL", f"http://127.0.0.1:{free_port()}/sms")  # nobody listens
    monkeypatch.setenv("CLINIC_CRM_SMS_TIMEOUT", "2")

    code = main(["reminders", "dispatch", "--db", db_url, "--now", NOW_ARG, "--sender", "http-sms,null"])

    out = capsys.readouterr().out
    assert code == 1
    assert "failed      1  (0 permanently, the rest retried later)" in out
    reminder = crm.reminders.get(ids["ok"])
    assert reminder.status == "pending" and reminder.attempts == 1 and reminder.next_attempt_at is not None


def test_limit_caps_the_claims(crm: ClinicCRM, clinic: Clinic, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    _mix(crm, clinic)
    assert (
        main(["reminders", "dispatch", "--db", db_url, "--now", NOW_ARG, "--sender", "null", "--limit", "1", "--json"])
        == 0
    )
    summary = json.loads(capsys.readouterr().out)
    assert summary["sent"] + summary["suppressed"] == 1


def test_plan_dry_run_then_plan(
    crm: ClinicCRM, clinic: Clinic, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    patient = crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912-345-678")
    crm.visits.book(patient.id, starts_at=NOW + timedelta(days=2), kind="cleaning")

    assert main(["reminders", "plan", "--db", db_url, "--now", NOW_ARG, "--horizon", "7d", "--dry-run"]) == 0
    assert "would create 1 reminder " in capsys.readouterr().out
    assert crm.reminders.plan(now=NOW, horizon=timedelta(days=7)) == 1  # the dry run kept nothing
    assert main(["reminders", "plan", "--db", db_url, "--now", NOW_ARG, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["planned"] == 0  # idempotent


@pytest.mark.parametrize(
    "argv",
    [
        ["reminders", "plan", "--horizon", "soon"],
        ["reminders", "plan", "--now", "2026-03-02T17:00:00"],  # no offset
        ["reminders", "dispatch", "--sender", "pigeon"],
        ["reminders", "dispatch", "--limit", "-1"],
        ["reminders", "dispatch", "--sender", "smtp"],  # no sender for SMS
        ["reminders", "dispatch", "--sender", "smtp,outbox"],  # CLINIC_CRM_SMTP_HOST missing
        ["reminders", "dispatch", "--dry-run", "--sender", "smtp,http-sms"],  # checked even for a dry run
    ],
)
def test_bad_arguments_exit_2_without_touching_the_database(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CLINIC_CRM_SMTP_HOST", "CLINIC_CRM_SMTP_FROM", "CLINIC_CRM_SENDER", "CLINIC_CRM_SMS_URL"):
        monkeypatch.delenv(name, raising=False)
    db = tmp_path / "never.db"
    assert main([*argv, "--db", f"sqlite:///{db}"]) == 2
    assert "error:" in capsys.readouterr().err
    assert not db.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", timedelta(days=7)),
        ("24h", timedelta(hours=24)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("2w", timedelta(weeks=2)),
        ("90m", timedelta(minutes=90)),
        (" 30 s ", timedelta(seconds=30)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "7", "d", "0d", "7x", "-1d", "1.5h", "7d junk"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_duration(text)


def test_parse_instant() -> None:
    assert parse_instant("2026-03-02T17:00:00+08:00") == NOW
    assert parse_instant("2026-03-02T09:00:00Z") == NOW
    with pytest.raises(NaiveDatetimeError):
        parse_instant("2026-03-02T09:00:00")
    with pytest.raises(ValidationError):
        parse_instant("yesterday")


def test_format_report_without_reasons() -> None:
    text = format_report({"sent": 0, "suppressed": 0, "deferred": 2, "held": 3, "failed": 0})
    assert "deferred    2" in text and "held        3" in text and "(" not in text


def test_verbose_logs_ids_but_no_patient_data(
    crm: ClinicCRM,
    clinic: Clinic,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ids = _mix(crm, clinic)
    monkeypatch.setenv("CLINIC_CRM_OUTBOX", str(tmp_path / "outbox.jsonl"))
    assert main(["reminders", "dispatch", "--db", db_url, "--now", NOW_ARG, "--sender", "outbox", "-v"]) == 0
    err = capsys.readouterr().err
    assert f"reminder_id={ids['ok']}" in err
    for secret in ("+886912345678", "+886223456789", "王", "小明", "李", "美玲"):
        assert secret not in err
