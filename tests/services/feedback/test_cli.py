"""``clinic-crm feedback list`` and ``clinic-crm feedback sla``, in process: tables, exit codes, no patient text."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic_crm import ClinicCRM, Patient
from clinic_crm.cli import main
from tests.conftest import T0
from tests.services.feedback.conftest import CaseFactory

H = timedelta(hours=1)
SECRET = "王小明說櫃檯很兇"


def test_list_breached_exits_one_without_patient_text(
    crm: ClinicCRM, cid: int, db_url: str, patient: Patient, make_case: CaseFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    urgent = make_case(priority="urgent", text=SECRET, patient_id=patient.id)  # acknowledge within 4 hours
    make_case(kind="compliment", text=SECRET)
    base = ["feedback", "list", "--clinic", str(cid), "--db", db_url]
    assert main([*base, "--breached", "--now", "2026-03-02T13:00+00:00"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("0 breached cases of clinic")
    assert main([*base, "--breached", "--now", "2026-03-02T13:00:01+00:00"]) == 1
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0] == f"1 breached cases of clinic {cid} at 2026-03-02 21:00 (Asia/Taipei)"
    assert lines[1].split() == ["id", "kind", "channel", "priority", "status", "received", "ack", "due", "resolve",
                                "due", "breached"]  # fmt: skip
    assert lines[3].split()[:5] == [str(urgent.id), "complaint", "phone", "urgent", "open"]
    assert lines[3].split()[-1] == "yes"
    assert "2026-03-02 17:00" in lines[3] and "2026-03-02 21:00" in lines[3]  # received, due: Taipei wall time
    assert main([*base, "--now", "2026-03-02T13:00:01+00:00"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 cases")
    assert [line.split()[-1] for line in out.splitlines()[3:]] == ["yes", "no"]
    assert main([*base, "--status", "resolved", "--now", "2026-03-02"]) == 0
    assert capsys.readouterr().out.startswith("0 cases")
    for text in (out, err):
        assert SECRET not in text and "王" not in text


def test_sla_table(
    crm: ClinicCRM, cid: int, db_url: str, make_case: CaseFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    case = make_case(text=SECRET)
    make_case(kind="question")
    assert case.id is not None
    crm.feedback.resolve(case.id, at=T0 + H, by="A", resolution="ok")
    argv = ["feedback", "sla", "--clinic", str(cid), "--by", "kind", "--now", "2026-03-02T10:00+00:00", "--db", db_url]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"Feedback SLA by kind — clinic {cid}")
    assert [line.split() for line in lines[3:]] == [
        ["complaint", "1", "1", "1", "0"],
        ["question", "1", "0", "0", "0"],
        ["total", "2", "1", "1", "0"],
    ]
    assert main(["feedback", "sla", "--by", "month", "--now", "2027-01-01", "--db", db_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines[3:]] == [["2026-03", "2", "1", "1", "1"], ["total", "2", "1", "1", "1"]]


def test_errors_exit_two(crm: ClinicCRM, cid: int, db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["feedback", "list", "--clinic", "999", "--db", db_url]) == 2
    assert "NotFound" in capsys.readouterr().err
    assert main(["feedback", "list", "--clinic", str(cid), "--now", "yesterday", "--db", db_url]) == 2
    assert "now" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["feedback", "list", "--clinic", str(cid), "--status", "closed", "--db", db_url])
