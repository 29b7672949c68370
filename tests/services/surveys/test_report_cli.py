"""``clinic-crm report``: the metrics as a table, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from clinic_crm.models import Clinic
from tests.services.surveys.stats_factory import Resp, seed

T = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def seeded(crm: ClinicCRM, clinic: Clinic) -> int:
    assert clinic.id is not None
    c = clinic.id
    items = [Resp(c, T, nps=v, rating=r, practitioner="Dr Lin") for v, r in ((10, 5), (9, 4), (8, 3), (3, 1), (10, 5))]
    items += [Resp(c, T + timedelta(days=31), nps=2, practitioner="Dr Wu", channel="email")]
    items += [Resp(c, T, answered=False)]
    seed(crm.engine, items)
    return c


def _lines(out: str) -> dict[str, list[str]]:
    return {line.split()[0]: line.split() for line in out.splitlines()[3:] if line.strip()}


def test_report_nps_by_month_prints_a_table(db_url: str, seeded: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "nps", "--db", db_url, "--by", "month"]) == 0
    out = capsys.readouterr().out
    rows = _lines(out)
    assert "NPS by month" in out and "hidden below 5" in out
    assert rows["2026-03"] == ["2026-03", "5", "3", "1", "1", "40.0", rows["2026-03"][6]]
    assert float(rows["2026-03"][6]) > 0
    assert rows["2026-04"] == ["2026-04", "1", "0", "0", "1", "-", "-"]  # fewer than 5: suppressed
    assert rows["total"][1:6] == ["6", "3", "1", "2", "16.7"]


def test_report_min_responses_zero_shows_every_score(
    db_url: str, seeded: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "nps", "--db", db_url, "--by", "practitioner", "--min-responses", "0"]) == 0
    rows = [line.split() for line in capsys.readouterr().out.splitlines()[3:]]
    by_name = {" ".join(r[:2]): r[2:] for r in rows if r[0] == "Dr"}
    assert by_name["Dr Wu"][:6] == ["1", "0", "0", "1", "-100.0", "0.0"]  # shown although n=1
    assert by_name["Dr Lin"][:5] == ["5", "3", "1", "1", "40.0"]


def test_report_since_until_take_dates_in_the_clinics_zone(
    db_url: str, seeded: int, capsys: pytest.CaptureFixture[str]
) -> None:
    # 2026-04-10 02:00 UTC is 10:00 in Taipei; since 2026-04-10 (local midnight = 04-09 16:00 UTC) includes it
    argv = ["report", "nps", "--db", db_url, "--clinic", str(seeded), "--since", "2026-04-10", "--min-responses", "0"]
    assert main(argv) == 0
    assert _lines(capsys.readouterr().out)["total"][1] == "1"
    argv = ["report", "nps", "--db", db_url, "--until", "2026-03-10T10:00:00+08:00"]
    assert main(argv) == 0  # exclusive: the responses at exactly 02:00 UTC are out
    assert _lines(capsys.readouterr().out)["total"][1] == "0"


def test_report_csat_and_response_rate(db_url: str, seeded: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "csat", "--db", db_url]) == 0
    assert _lines(capsys.readouterr().out)["total"] == ["total", "5", "3", "60.0"]
    assert main(["report", "response-rate", "--db", db_url, "--by", "channel", "--min-responses", "0"]) == 0
    rows = _lines(capsys.readouterr().out)
    assert rows["email"] == ["email", "1", "1", "100.0"]
    assert rows["sms"] == ["sms", "6", "5", "83.3"]
    assert rows["total"] == ["total", "7", "6", "85.7"]


def test_report_png_writes_the_chart(
    db_url: str, seeded: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "nps.png"
    assert main(["report", "nps", "--db", db_url, "--png", str(png)]) == 0
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert str(png) in capsys.readouterr().out
    assert main(["report", "csat", "--db", db_url, "--png", str(png)]) == 2  # the chart is NPS only


@pytest.mark.parametrize(
    "extra",
    [
        ["--since", "2026-03-01T00:00"],  # naive datetime
        ["--since", "March"],
        ["--by", "channel"],  # nps has no channel grouping
        ["--min-responses", "-1"],
        ["--clinic", "999"],
    ],
)
def test_report_bad_input_exits_2_without_a_traceback(
    db_url: str, seeded: int, extra: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", "nps", "--db", db_url, *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err
