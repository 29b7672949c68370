"""``clinic-crm incident declare|status|overdue`` and ``clinic-crm crisis readiness``, in-process."""

from __future__ import annotations

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from clinic_crm.models import Clinic
from tests.conftest import T0

AT = "2026-03-02T17:00:00+08:00"  # T0
LATER = "2026-03-02T20:00:00+08:00"  # T0 + 3 h


def test_declare_status_overdue(
    crm: ClinicCRM, team_clinic: Clinic, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cid = str(team_clinic.id)
    argv = ["incident", "declare", "--db", db_url, "--clinic", cid, "--title", "Leak", "--type", "data_breach"]
    assert main([*argv, "--by", "Dr. Chen", "--at", AT]) == 0
    out = capsys.readouterr().out
    assert "declared incident #1; paused: marketing" in out and "first statement due" in out
    [incident] = crm.incidents.list(team_clinic.id or 0)
    assert (incident.declared_at, incident.declared_by, incident.drill) == (T0, "Dr. Chen", False)
    assert main([*argv, "--by", "Dr. Chen", "--at", AT, "--drill"]) == 0
    assert "paused: nothing (drill)" in capsys.readouterr().out
    assert main(["incident", "status", "--db", db_url, "--clinic", cid, "--now", AT]) == 0
    out = capsys.readouterr().out
    assert "#1 clinic" in out and "#2 clinic" in out and "DRILL" in out and "in 2h00" in out
    assert main(["incident", "overdue", "--db", db_url, "--now", AT]) == 0
    assert "no overdue incident" in capsys.readouterr().out
    assert main(["incident", "overdue", "--db", db_url, "--now", LATER]) == 1
    out = capsys.readouterr().out
    assert "#1 clinic" in out and "OVERDUE by 1h00" in out and "#2" not in out


def test_declare_errors_exit_2_without_traceback(
    crm: ClinicCRM, team_clinic: Clinic, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["incident", "declare", "--db", db_url, "--clinic", str(team_clinic.id), "--type", "other"]
    assert main([*argv, "--title", " ", "--by", "x", "--at", AT]) == 2
    assert "ValidationError" in capsys.readouterr().err
    assert main([*argv, "--title", "t", "--by", "x", "--at", "2026-03-02T17:00"]) == 2
    assert "NaiveDatetimeError" in capsys.readouterr().err
    assert crm.incidents.list(team_clinic.id or 0) == []


def test_status_without_incidents_and_readiness(
    crm: ClinicCRM, team_clinic: Clinic, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["incident", "status", "--db", db_url, "--now", AT]) == 0
    assert "no open incident" in capsys.readouterr().out
    assert main(["crisis", "readiness", "--db", db_url, "--clinic", str(team_clinic.id), "--now", AT]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1] if line.startswith("[x]") else line.split()[2] for line in lines[:6]] == [
        "lead",
        "spokesperson",
        "legal_contact",
        "playbooks",
        "drill",
        "risks_reviewed",
    ]
    assert lines[0].startswith("[x]") and lines[3].startswith("[ ]")
    assert lines[-1] == "readiness: 50/100"
    assert main(["crisis", "readiness", "--db", db_url, "--clinic", "999", "--now", AT]) == 2
