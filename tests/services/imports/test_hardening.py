"""Hardening of the import (issue 8): an oversized cell costs only its row; errors never echo header text or keys."""

from __future__ import annotations

import csv
import threading
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from clinic_crm import ClinicCRM, DuplicatePatient, ImportReport, ValidationError
from clinic_crm.cli import main
from clinic_crm.models import Clinic, Patient
from clinic_crm.services import import_writer, imports
from tests.conftest import count_rows
from tests.services.imports.conftest import by_external_id

LIMIT = csv.field_size_limit()
HEADER = "external_id,family_name,given_name,email\n"


def _import(crm: ClinicCRM, clinic: Clinic, path: Path, body: str) -> tuple[ImportReport, dict[str | None, Patient]]:
    assert clinic.id is not None
    path.write_text(HEADER + body, encoding="utf-8", newline="")
    report = crm.patients.import_csv(clinic.id, path)
    return report, by_external_id(crm, clinic.id)


def test_oversized_plain_cell_rejects_only_its_row(crm: ClinicCRM, clinic: Clinic, tmp_path: Path) -> None:
    big = "x" * (LIMIT + 10)
    body = f"O1,王,小明,\nO2,林,{big},\nO3,Lee,Ann,ann@example.com\n"
    report, patients = _import(crm, clinic, tmp_path / "o.csv", body)
    assert (report.created, report.updated) == (2, 0)
    assert [(e.row, e.field) for e in report.rejected] == [(2, "given_name")]
    assert str(LIMIT) in report.rejected[0].reason and "x" * 20 not in report.rejected[0].reason
    assert sorted(patients) == ["O1", "O3"]


def test_oversized_quoted_multiline_cell_resumes_after_its_closing_quote(
    crm: ClinicCRM, clinic: Clinic, tmp_path: Path
) -> None:
    # a quoted cell over the limit, spanning many lines, with escaped quotes and commas inside
    big = '"' + 'line, with ""quotes""\n' * (LIMIT // 20 + 10) + '"'
    body = f'Q1,王,小明,\nQ2,林,美玲,{big}\nQ3,"Lee, Jr.",Ann,\n\nQ4,Chen,Bo,bo@example.com\n'
    report, patients = _import(crm, clinic, tmp_path / "q.csv", body)
    assert [(e.row, e.field) for e in report.rejected] == [(2, "email")]
    assert sorted(patients) == ["Q1", "Q3", "Q4"]
    assert patients["Q3"].family_name == "Lee, Jr."


def test_overlong_line_of_many_cells_is_one_rejected_row(crm: ClinicCRM, clinic: Clinic, tmp_path: Path) -> None:
    """A line longer than any valid row (many cells, each under the limit) is cut off and rejected as one row."""
    cells = ",".join(["y" * (LIMIT - 1)] * 10)
    body = f"L1,王,小明,\nL2,林,{cells}\nL3,Lee,Ann,\n"
    report, patients = _import(crm, clinic, tmp_path / "l.csv", body)
    assert [(e.row, e.field) for e in report.rejected] == [(2, "row")]
    assert sorted(patients) == ["L1", "L3"]


def test_oversized_cell_memory_is_bounded(crm: ClinicCRM, clinic: Clinic, tmp_path: Path) -> None:
    """A 40 MB cell on one line is never held whole: peak memory stays a small fraction of it."""
    assert clinic.id is not None
    path = tmp_path / "huge.csv"
    size = 40_000_000
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(HEADER + "H1,王,小明,\nH2,林,")
        chunk = "z" * 1_000_000
        for _ in range(size // len(chunk)):
            handle.write(chunk)
        handle.write(",\nH3,Lee,Ann,\n")
    tracemalloc.start()
    try:
        report = crm.patients.import_csv(clinic.id, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [(e.row, e.field) for e in report.rejected] == [(2, "given_name")]
    assert sorted(by_external_id(crm, clinic.id)) == ["H1", "H3"]
    assert peak < size / 4, peak


SECRETS = ("陳怡君", "0912-345-678", "amy.chen@example.com")


@pytest.mark.parametrize(
    ("header", "position"),
    [
        ("family_name,陳怡君,0912-345-678,amy.chen@example.com", 2),  # a data row pasted under one real name
        ("given_name,family_name,given_name,陳怡君", 3),  # duplicated column before the unknown one
    ],
    ids=["unknown", "duplicate"],
)
def test_header_text_never_echoed(
    crm: ClinicCRM,
    clinic: Clinic,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    header: str,
    position: int,
) -> None:
    assert clinic.id is not None
    path = tmp_path / "h.csv"
    path.write_text(header + "\n王,小明,x,y\n", encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        crm.patients.import_csv(clinic.id, path)
    message = str(info.value)
    assert f"column {position}" in message
    assert main(["import", str(path), "--clinic", str(clinic.id), "--db", db_url]) == 2
    captured = capsys.readouterr()
    assert f"column {position}" in captured.err
    for secret in SECRETS:
        assert secret not in message and secret not in repr(info.value)
        assert secret not in captured.out and secret not in captured.err
    assert count_rows(crm, "patient") == 0


def test_import_rows_key_never_echoed(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    rows: list[dict[str, object]] = [
        {"family_name": "A", "given_name": "B"},
        {"family_name": "C", "陳怡君": "x", "amy.chen@example.com": 1},
    ]
    with pytest.raises(ValidationError) as info:
        crm.patients.import_rows(clinic.id, rows)
    assert "row 2" in str(info.value) and "key 2" in str(info.value)
    for secret in SECRETS:
        assert secret not in str(info.value) and secret not in repr(info.value)
    assert count_rows(crm, "patient") == 0


def test_audit_chain_holds_across_chunks(crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each chunk's events are written in one insert per action; the hash chain still verifies, one event each."""
    assert clinic.id is not None
    monkeypatch.setattr(imports, "CHUNK_SIZE", 3)
    crm.patients.register(clinic.id, family_name="王", given_name="明", external_id="A0")
    rows = [{"family_name": "林", "given_name": f"{i}", "external_id": f"A{i}"} for i in range(10)]
    report = crm.patients.import_rows(clinic.id, rows)
    assert (report.created, report.updated) == (9, 1)
    assert crm.audit.verify()
    events = [e for p in crm.patients.find(clinic.id) for e in crm.audit.for_patient(p.id) if e.detail]
    assert sorted(e.action for e in events if "import" in e.detail) == ["create"] * 9 + ["update"]


def test_writes_run_on_a_worker_thread_only_on_postgresql(
    crm: ClinicCRM, clinic: Clinic, backend: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL: a worker thread writes the chunks (overlapping the server's work); SQLite writes inline."""
    assert clinic.id is not None
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    threads: set[str] = set()
    write = import_writer.ChunkWriter.write

    def spy(self: import_writer.ChunkWriter, *args: Any) -> Any:
        threads.add(threading.current_thread().name)
        return write(self, *args)

    monkeypatch.setattr(import_writer.ChunkWriter, "write", spy)
    rows = [{"family_name": "林", "given_name": f"{i}", "external_id": f"T{i}"} for i in range(7)]
    rows.append({"external_id": "T1", "email": "t1@example.com"})  # updates a patient of an earlier chunk
    report = crm.patients.import_rows(clinic.id, rows)
    assert (report.created, report.updated) == (7, 1)
    main = threading.current_thread().name
    assert threads == ({"clinic_crm-import-writer"} if backend == "postgres" else {main})
    threads.clear()
    lazy = ({"external_id": f"T{i}", "given_name": "x"} for i in range(3))  # may run the caller's code: inline
    assert crm.patients.import_rows(clinic.id, lazy).updated == 3
    assert threads == {main}
    assert crm.audit.verify()


def test_a_later_chunk_failing_on_the_worker_keeps_nothing(
    crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A DuplicatePatient in the fourth chunk, after three were written: the whole import is rolled back."""
    assert clinic.id is not None
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    crm.patients.register(clinic.id, family_name="A", given_name="B", external_id="X7")
    monkeypatch.setattr(import_writer.ChunkWriter, "_existing_ids", lambda self, ids: {})  # the look-up "missed" it
    rows = [{"family_name": "林", "given_name": f"{i}", "external_id": f"X{i}"} for i in range(1, 20)]
    with pytest.raises(DuplicatePatient):
        crm.patients.import_rows(clinic.id, rows)
    assert count_rows(crm, "patient") == 1
    assert crm.audit.verify()


def test_a_bad_row_after_written_chunks_keeps_nothing(
    crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reader fails at row 9 while earlier chunks are being written: the import is refused as a whole."""
    assert clinic.id is not None
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    rows: list[dict[str, object]] = [{"family_name": "林", "given_name": f"{i}"} for i in range(8)]
    rows.append({"family_name": "C", "nickname": "x"})
    with pytest.raises(ValidationError):
        crm.patients.import_rows(clinic.id, rows)
    assert count_rows(crm, "patient") == 0
    assert crm.audit.verify()
