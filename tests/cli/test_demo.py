"""The demo builds a coherent clinic on both databases, and the CLI refuses to run twice on one file."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM, NpsResult
from clinic_crm.cli import main
from clinic_crm.demo import build_demo
from tests.conftest import count_rows

NOW = datetime(2026, 11, 25, 2, 30, tzinfo=UTC)  # 10:30 in Taipei: outside quiet hours


def test_demo_builds_everything(crm: ClinicCRM, tmp_path: Path) -> None:
    outbox = tmp_path / "outbox.jsonl"
    summary = build_demo(crm, patients=120, seed=3, now=NOW, outbox=outbox)
    assert summary.patients == count_rows(crm, "patient") == 120
    assert sum(summary.visits_by_status.values()) == count_rows(crm, "visit")
    assert count_rows(crm, "response") > 0 and count_rows(crm, "care_plan") > 0
    sent = [json.loads(line) for line in outbox.read_text(encoding="utf-8").splitlines()]
    assert sent, "the demo's dispatch should send something outside quiet hours"
    assert {m["channel"] for m in sent} <= {"sms", "email"}
    result = crm.surveys.nps()
    assert isinstance(result, NpsResult) and result.responses == count_rows(crm, "response")


def test_demo_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert main(["demo", "--db", url, "--patients", "60"]) == 0
    out = capsys.readouterr().out
    assert "patients: 60" in out and "NPS (all clinics)" in out
    assert main(["demo", "--db", url]) == 2  # refuses to mix a second demo into the same file
