"""CSV for people: formula cells neutralised (OWASP), numbers kept, on the report commands of both databases."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from clinic_crm.models import Clinic
from clinic_crm.reporting import FORMULA_PREFIXES, Cell, safe_cell, write_csv
from tests.services.surveys.stats_factory import Resp, seed

PAYLOADS = ["=cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0", "+1+1", "-2+3", "\t=1", "\r=1", '=HYPERLINK("x")']

prefixed = st.builds(lambda p, t: p + t, st.sampled_from(FORMULA_PREFIXES), st.text())
texts = st.text() | st.sampled_from(PAYLOADS) | prefixed
numbers = st.integers() | st.floats(allow_nan=False) | st.decimals(allow_nan=False, allow_infinity=False)
cells = texts | numbers | st.none()


def _read_back(rows: list[list[Cell]]) -> list[list[str]]:
    stream = io.StringIO(newline="")
    assert write_csv(stream, ["a"] * len(rows[0]), rows) == len(rows)
    return list(csv.reader(io.StringIO(stream.getvalue(), newline="")))[1:]


@given(st.lists(st.lists(cells, min_size=3, max_size=3), min_size=1, max_size=5))
def test_no_text_cell_reads_as_a_formula_and_nothing_is_lost(rows: list[list[Cell]]) -> None:
    for written, read in zip(rows, _read_back(rows), strict=True):
        for value, cell in zip(written, read, strict=True):
            if value is None:
                assert cell == ""
            elif isinstance(value, int | float | Decimal):
                assert cell == str(value)  # a number stays a number, sign included
                assert (Decimal(cell) if isinstance(value, Decimal) else type(value)(cell)) == value
            else:
                assert isinstance(value, str)
                if value.startswith(FORMULA_PREFIXES):
                    assert cell == "'" + value
                else:
                    assert cell == value
                    assert not cell.startswith(FORMULA_PREFIXES)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_known_injection_payloads_are_quoted(payload: str) -> None:
    assert safe_cell(payload) == "'" + payload
    assert safe_cell(-12.5) == -12.5 and safe_cell(7) == 7 and safe_cell(None) == ""
    assert safe_cell(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-03-01T00:00:00+00:00"


def test_a_file_is_utf8_with_bom_for_excel(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_csv(path, ["診所", "n"], [["日昇牙醫", 3], ["=1+1", -1]])
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    assert _rows(path) == [
        ["診所", "n"],
        ["日昇牙醫", "3"],
        ["'=1+1", "-1"],
    ]


def _rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.reader(handle))


T = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
EVIL = "=cmd|' /C calc'!A0"


def test_report_nps_csv_neutralises_a_practitioner_named_like_a_formula(
    crm: ClinicCRM, clinic: Clinic, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert clinic.id is not None
    seed(crm.engine, [Resp(clinic.id, T, nps=v, practitioner=EVIL) for v in (10, 9, 3, 10, 2)])
    out = tmp_path / "nps.csv"
    argv = ["report", "nps", "--db", db_url, "--by", "practitioner", "--csv", str(out)]
    assert main(argv) == 0
    assert f"table written to {out}" in capsys.readouterr().out
    rows = _rows(out)
    assert rows[0] == ["group", "responses", "promoters", "passives", "detractors", "NPS", "±95%"]
    assert rows[1][:6] == ["'" + EVIL, "5", "3", "0", "2", "20.0"]
    assert rows[2][:6] == ["total", "5", "3", "0", "2", "20.0"]


def test_feedback_sla_and_reputation_summary_write_csv(
    crm: ClinicCRM, clinic: Clinic, db_url: str, tmp_path: Path
) -> None:
    assert clinic.id is not None
    at = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    crm.feedback.record(clinic.id, kind="complaint", channel="phone", text="=evil()", at=at)
    sla = tmp_path / "sla.csv"
    argv = ["feedback", "sla", "--db", db_url, "--by", "kind", "--now", (at + timedelta(days=30)).isoformat()]
    assert main([*argv, "--csv", str(sla)]) == 0
    rows = _rows(sla)
    assert rows[0] == ["group", "cases", "ack on time", "resolved on time", "breached"]
    assert rows[1] == ["complaint", "1", "0", "0", "1"] and rows[-1][0] == "total"
    summary = tmp_path / "reputation.csv"
    assert main(["reputation", "summary", "--db", db_url, "--csv", str(summary)]) == 0
    rows = _rows(summary)
    assert rows[0][:3] == ["group", "mentions", "rated"] and rows[1][:3] == ["total", "0", "0"]
