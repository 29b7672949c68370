"""``clinic-crm reputation import|check|summary`` run in-process through ``clinic_crm.cli.main``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from clinic_crm import ClinicCRM
from clinic_crm.cli import main
from tests.conftest import T0, count_rows
from tests.services.reputation.conftest import GOOGLE_PAYLOAD, negatives

Cap = pytest.CaptureFixture[str]


def test_import_google(crm: ClinicCRM, clinic_id: int, db_url: str, tmp_path: Path, capsys: Cap) -> None:
    path = tmp_path / "reviews.json"
    path.write_text(json.dumps(GOOGLE_PAYLOAD), encoding="utf-8")
    args = ["reputation", "import", str(path), "--clinic", str(clinic_id), "--source", "google", "--db", db_url]
    assert main(args) == 0
    assert "created 3, updated 0, rejected 0" in capsys.readouterr().out
    assert main(args) == 0
    assert "created 0, updated 3" in capsys.readouterr().out


def test_import_csv_reports_bad_rows_without_their_data(
    crm: ClinicCRM, clinic_id: int, db_url: str, tmp_path: Path, capsys: Cap
) -> None:
    path = tmp_path / "mentions.csv"
    path.write_text(
        "source,external_id,text,posted_at,rating,author,url\n"
        'ptt,p1,"很棒, 推薦",2026-03-01T10:00:00+08:00,,Amy,https://ptt.example/1\n'
        "dcard,d1,Secret text of row two,2026-03-01 10:00,3,,\n"
        "news,n1,Clinic expands,2026-03-01T02:00:00Z,9,,\n"
        "news,n2,態度很差,2026-03-01T02:00:00Z,,,\n",
        encoding="utf-8",
    )
    code = main(["reputation", "import", str(path), "--clinic", str(clinic_id), "--source", "csv", "--db", db_url])
    out = capsys.readouterr().out
    assert code == 1
    assert "created 2, updated 0, rejected 2" in out
    assert "row 2: posted_at" in out and "row 3: rating" in out
    assert "Secret" not in out
    by_id = {m.external_id: m for m in crm.reputation.mentions(clinic_id)}
    assert by_id["p1"].text == "很棒, 推薦" and by_id["p1"].rating is None and by_id["n2"].sentiment == "negative"


def test_import_errors(crm: ClinicCRM, clinic_id: int, db_url: str, tmp_path: Path, capsys: Cap) -> None:
    base = ["--clinic", str(clinic_id), "--db", db_url]
    assert main(["reputation", "import", str(tmp_path / "missing.json"), "--source", "google", *base]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    assert main(["reputation", "import", str(bad), "--source", "google", *base]) == 2
    header = tmp_path / "bad.csv"
    header.write_text("who,what\nx,y\n", encoding="utf-8")
    assert main(["reputation", "import", str(header), "--source", "csv", *base]) == 2
    good = tmp_path / "ok.csv"
    good.write_text("source,external_id,text,posted_at\nx,1,t,2026-03-01T00:00:00Z\n", encoding="utf-8")
    assert main(["reputation", "import", str(good), "--source", "csv", "--clinic", "999", "--db", db_url]) == 2
    assert "NotFound" in capsys.readouterr().err
    assert count_rows(crm, "mention") == 0


def test_check_exit_codes(crm: ClinicCRM, clinic_id: int, db_url: str, capsys: Cap) -> None:
    args = ["reputation", "check", "--clinic", str(clinic_id), "--db", db_url, "--now", T0.isoformat()]
    assert main(args) == 0
    assert "0 open" in capsys.readouterr().out
    negatives(crm, clinic_id, [T0 - timedelta(hours=h) for h in range(1, 7)])
    assert main(args) == 1
    out = capsys.readouterr().out
    assert "1 alert(s) opened now, 1 open" in out and "negative_spike" in out
    assert main(args) == 1
    assert "0 alert(s) opened now, 1 open" in capsys.readouterr().out
    assert main(["reputation", "check", "--clinic", str(clinic_id), "--db", db_url, "--now", "2026-03-02T09:00"]) == 2


def test_summary(crm: ClinicCRM, clinic_id: int, db_url: str, tmp_path: Path, capsys: Cap) -> None:
    negatives(crm, clinic_id, [T0 - timedelta(days=40), T0 - timedelta(hours=1)])
    png = tmp_path / "rep.png"
    args = ["reputation", "summary", "--clinic", str(clinic_id), "--by", "month", "--db", db_url]
    pytest.importorskip("matplotlib")
    assert main([*args, "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "2026-01" in out and "2026-03" in out and "total" in out
    assert png.stat().st_size > 0
