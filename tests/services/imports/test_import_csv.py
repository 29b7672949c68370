"""crm.patients.import_csv: BOM, header checks, CSV quirks, row numbers, flat memory."""

from __future__ import annotations

import csv
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.services import imports
from tests.conftest import count_rows
from tests.services.imports.conftest import by_external_id

HEADER = ["external_id", "family_name", "given_name", "phone", "email", "birth_date"]


def test_bom_file_creates_and_updates(crm: ClinicCRM, clinic: Clinic, write_csv: Callable[..., Path]) -> None:
    assert clinic.id is not None
    crm.patients.register(clinic.id, family_name="陳", given_name="怡君", phone="0912-000-111", external_id="A2")
    path = write_csv(
        HEADER,
        [
            ["A1", "王", "小明", "0912-345-678", "Ming@Example.COM", "1990-01-02"],
            ["A2", "", "", "", "yi@example.com", ""],
            ["A3", "Smith", "Jo", "+1 650-253-0000", "", ""],
        ],
        bom=True,
    )
    report = crm.patients.import_csv(clinic.id, path)
    assert (report.created, report.updated, report.rejected) == (2, 1, [])
    patients = by_external_id(crm, clinic.id)
    assert patients["A1"].family_name == "王"  # the BOM did not end up in the first column's name
    assert patients["A1"].email == "Ming@example.com"
    assert patients["A2"].phone == "+886912000111" and patients["A2"].email == "yi@example.com"
    assert patients["A3"].phone == "+16502530000"


def test_rejections_name_row_and_field(crm: ClinicCRM, clinic: Clinic, write_csv: Callable[..., Path]) -> None:
    assert clinic.id is not None
    path = write_csv(
        HEADER,
        [
            ["B1", "王", "小明", "0912-345-678", "", ""],
            ["B2", "林", "美玲", "02-1", "", ""],
            ["B3", "林", "美玲", "", "mei@", ""],
            ["B4", "林", "美玲", "", "", "1990-02-30"],
            ["B5", "林", "美玲", "", "", "", "surplus"],
            ["B6", "Lee", "Ann"],  # short row: the missing cells are blank
        ],
    )
    report = crm.patients.import_csv(clinic.id, path)
    assert (report.created, report.updated) == (2, 0)
    assert [(e.row, e.field) for e in report.rejected] == [(2, "phone"), (3, "email"), (4, "birth_date"), (5, "row")]
    for error in report.rejected:
        for secret in ("林", "美玲", "02-1", "mei@", "1990-02-30", "surplus"):
            assert secret not in error.reason
    assert sorted(by_external_id(crm, clinic.id)) == ["B1", "B6"]


def test_quoted_fields_blank_lines_and_spaces(crm: ClinicCRM, clinic: Clinic, tmp_path: Path) -> None:
    assert clinic.id is not None
    path = tmp_path / "q.csv"
    path.write_text(
        ' family_name , given_name ,external_id\n"Smith, Jr.",Anne,Q1\nLee,"Anne\nMarie",Q2\n\n   ,x,Q3\nLee,Bo,Q4\n',
        encoding="utf-8",
    )
    report = crm.patients.import_csv(clinic.id, path)
    assert report.created == 2
    # the quoted line break is one record; the blank line is not counted
    assert [(e.row, e.field) for e in report.rejected] == [(2, "given_name"), (3, "family_name")]
    patients = by_external_id(crm, clinic.id)
    assert sorted(patients) == ["Q1", "Q4"]
    assert patients["Q1"].family_name == "Smith, Jr."


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (b"", "file"),
        (b"family_name,given_name,nickname\nA,B,C\n", "nickname"),
        (b"family_name,given_name,family_name\nA,B,C\n", "family_name"),
        (b"family_name,given_name\nA,B\n\xff\xfe,C\n", "file"),
        ("王,小明,0912-345-678\n林,美玲,0912-000-111\n".encode(), "header"),
        (b"\nfamily_name,given_name\nA,B\n", "header"),
    ],
    ids=["empty", "unknown-column", "duplicate-column", "not-utf8", "no-header", "blank-first-line"],
)
def test_whole_file_refused(crm: ClinicCRM, clinic: Clinic, tmp_path: Path, content: bytes, field: str) -> None:
    assert clinic.id is not None
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(ValidationError) as info:
        crm.patients.import_csv(clinic.id, path)
    assert info.value.field == field
    for secret in ("王", "小明", "0912"):
        assert secret not in str(info.value)
    assert count_rows(crm, "patient") == 0


def test_missing_file_raises_oserror(crm: ClinicCRM, clinic: Clinic, tmp_path: Path) -> None:
    assert clinic.id is not None
    with pytest.raises(FileNotFoundError):
        crm.patients.import_csv(clinic.id, tmp_path / "nope.csv")


def _big_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        for i in range(rows):
            out.writerow([f"M{i:07d}", "王", f"小明{i}", f"09{i:08d}", f"user{i}@example.com", "1985-03-04"])


def test_memory_stays_flat(crm: ClinicCRM, clinic: Clinic, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """20,000 rows in chunks of 1,000: peak memory is a fraction of what holding the rows would take."""
    assert clinic.id is not None
    rows = 20_000
    path = tmp_path / "big.csv"
    _big_csv(path, rows)
    monkeypatch.setattr(imports, "CHUNK_SIZE", 1_000)
    warm = tmp_path / "warm.csv"
    _big_csv(warm, 10)
    crm.patients.import_csv(clinic.id, warm)  # phone metadata, compiled statements: loaded once, not per row

    tracemalloc.start()
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            materialised = list(csv.DictReader(handle))
        _, holding_all = tracemalloc.get_traced_memory()
        del materialised
        tracemalloc.reset_peak()
        base, _ = tracemalloc.get_traced_memory()
        report = crm.patients.import_csv(clinic.id, path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.created == rows - 10 and report.updated == 10
    assert peak - base < holding_all / 4, (peak - base, holding_all)
