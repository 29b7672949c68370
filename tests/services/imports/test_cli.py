"""``clinic-crm import``: counts, data-free rejection lines, exit codes, progress bar."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from clinic_crm.cli.imports import count_data_lines
from clinic_crm.models import Clinic
from tests.conftest import count_rows

HEADER = ["external_id", "family_name", "given_name", "phone", "email"]
ROWS = [
    ["C1", "王", "小明", "0912-345-678", "ming@example.com"],
    ["C2", "林", "美玲", "0912-34", ""],
    ["C3", "Lee", "Ann", "", "ann@@example.com"],
    ["C4", "陳", "怡君", "", ""],
]


def test_import_prints_counts_and_rejections_without_data(
    crm: ClinicCRM, clinic: Clinic, db_url: str, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(HEADER, ROWS, bom=True)
    code = main(["import", str(path), "--clinic", str(clinic.id), "--db", db_url, "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1  # some rows were rejected; the others landed
    assert out.splitlines() == [
        "created: 2",
        "updated: 0",
        "rejected: 2",
        "row 2: phone: phone is not a valid phone number for region TW",
        "row 3: email: email is not a valid e-mail address",
    ]
    for secret in ("林", "美玲", "0912-34", "ann@@example.com", "Lee", "Ann"):
        assert secret not in out + err
    assert count_rows(crm, "patient") == 2


def test_clean_file_exits_zero_and_reimport_updates(
    crm: ClinicCRM, clinic: Clinic, db_url: str, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(HEADER, [ROWS[0], ROWS[3]])
    argv = ["import", str(path), "--clinic", str(clinic.id), "--db", db_url, "--no-progress"]
    assert main(argv) == 0
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out == ["created: 2", "updated: 0", "rejected: 0", "created: 0", "updated: 2", "rejected: 0"]


def test_refused_file_and_missing_file_exit_two(
    crm: ClinicCRM, clinic: Clinic, db_url: str, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(["family_name", "given_name", "ssn"], [["王", "小明", "A123"]])
    assert main(["import", str(path), "--clinic", str(clinic.id), "--db", db_url]) == 2
    err = capsys.readouterr().err
    assert "ValidationError" in err and "column 3" in err and "ssn" not in err and "A123" not in err and "王" not in err
    assert main(["import", str(path.with_name("missing.csv")), "--clinic", str(clinic.id), "--db", db_url]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["import", str(path), "--clinic", "999", "--db", db_url]) == 2
    assert "NotFound" in capsys.readouterr().err
    assert count_rows(crm, "patient") == 0


def test_progress_bar_on_request(
    crm: ClinicCRM, clinic: Clinic, db_url: str, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("tqdm")
    path = write_csv(HEADER, [ROWS[0], ROWS[3]])
    assert main(["import", str(path), "--clinic", str(clinic.id), "--db", db_url, "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "2/2" in err and "rows" in err
    assert out.startswith("created: 2")


def test_no_progress_bar_when_not_a_tty(
    crm: ClinicCRM, clinic: Clinic, db_url: str, write_csv: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_csv(HEADER, [ROWS[0]])
    assert main(["import", str(path), "--clinic", str(clinic.id), "--db", db_url]) == 0
    assert capsys.readouterr().err == ""


def test_count_data_lines(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_bytes(b"a,b\n1,2\n3,4")
    assert count_data_lines(path) == 2
    path.write_bytes(b"a,b\n1,2\n3,4\n")
    assert count_data_lines(path) == 2
    path.write_bytes(b"")
    assert count_data_lines(path) == 0


def test_big5_file_from_excel(
    crm: ClinicCRM, clinic: Clinic, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "excel.csv"
    path.write_bytes("external_id,family_name,given_name,phone\r\nB1,王,小明,0912-345-678\r\n".encode("cp950"))
    argv = ["import", str(path), "--clinic", str(clinic.id), "--db", db_url, "--no-progress"]
    assert main(argv) == 2  # not UTF-8: refused, with the fix in the message
    err = capsys.readouterr().err
    assert "cp950" in err and "Traceback" not in err
    assert count_rows(crm, "patient") == 0
    assert main([*argv, "--encoding", "cp950"]) == 0
    assert "created: 1" in capsys.readouterr().out
    [patient] = crm.patients.find(clinic.id, external_id="B1")
    assert patient.display_name == "王小明"
    assert main([*argv, "--encoding", "klingon"]) == 2
