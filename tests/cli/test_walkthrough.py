"""The first hour, from a clean folder: every ``clinic-crm`` command run as a subprocess of the installed entry point.

Follows ``docs/getting-started.md`` on a fresh SQLite file and on a throwaway PostgreSQL database: migrate, a first
clinic, a UTF-8 CSV and a Big5/cp950 CSV, plan, dispatch over two channels at once (SMS through the HTTP gateway
sender against a local HTTP server, e-mail through SMTP against a local aiosmtpd server, some deliveries failing),
the NPS chart that names the clinic, then every other command (``walkthrough.STEPS``).  Every step runs at ``-vv``;
exit codes are asserted; no output holds a traceback; no output, log line or stored error holds a name, phone or
e-mail of the imported patients.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM
from clinic_crm.cli import build_parser, main
from clinic_crm.testing import throwaway_postgres
from tests.cli.walkthrough import STEPS, Step
from tests.conftest import PG_ADMIN_URL, _pg_available
from tests.messaging.conftest import Gateway, Recorded, SmtpServer
from tests.services.surveys.stats_factory import Resp, seed

ENTRY_POINT = Path(sys.executable).with_name("clinic-crm")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 17:00 in Taipei, the --now of the steps

#: The patients of the two CSV files: (family, given, phone, e-mail).  Numbers are fictional (docs/cli.md).
UTF8_PATIENTS = [
    ("Quillfeather", "Anneliese", "", "anneliese.quill@example.com"),  # e-mail only: delivered over SMTP
    ("Marchetti", "Ottavio", "", "nobody@example.net"),  # the SMTP server refuses it: 550, a permanent failure
    ("歐陽", "琪琪", "0912-345-611", ""),  # SMS through the gateway
    ("Vandersloot", "Hieronymus", "0912 345 613", ""),  # the gateway answers 500 and echoes the number
]
BAD_ROW = ("Thistlewood", "Peregrine", "12", "peregrine.t@example.org")  # a malformed phone: rejected
BIG5_PATIENTS = [("諸葛", "美玲", "0912-345-621", ""), ("司馬", "志明", "+886 912 345 622", "zhiming.sima@example.org")]
FAILING_NUMBER = "+886912345613"


def _secrets() -> list[str]:
    """Every name, phone (as written, E.164, national digits) and e-mail address of the imported patients."""
    found: list[str] = []
    for family, given, phone, email in [*UTF8_PATIENTS, BAD_ROW, *BIG5_PATIENTS]:
        found += [family, given, f"{family}{given}", f"{given} {family}"]
        if len(phone) > 5:  # the rejected row's "12" is no phone number (and would match any count)
            digits = "".join(c for c in phone if c.isdigit())
            e164 = "+886" + digits.removeprefix("886").removeprefix("0") if len(digits) > 3 else phone
            found += [phone, e164, digits.removeprefix("886").removeprefix("0")]
        if email:
            found += [email, email.split("@")[0]]
    return found


def _write_csvs(folder: Path) -> None:
    header = "family_name,given_name,phone,email\n"
    rows = [*UTF8_PATIENTS[:2], BAD_ROW, *UTF8_PATIENTS[2:]]
    (folder / "patients.csv").write_text(header + "".join(",".join(r) + "\n" for r in rows), encoding="utf-8")
    big5 = header + "".join(",".join(r) + "\n" for r in BIG5_PATIENTS)
    (folder / "patients-big5.csv").write_bytes(big5.encode("cp950"))
    (folder / "mentions.csv").write_text(
        "source,external_id,text,posted_at,rating,author,url\n"
        "facebook,fb-1,Friendly staff,2026-02-27T10:00:00+08:00,5,A reader,https://example.org/p/1\n",
        encoding="utf-8",
    )
    review = {
        "reviewId": "AbC1",
        "reviewer": {"displayName": "A Google user", "isAnonymous": True},
        "starRating": "FOUR",
        "comment": "Short wait.",
        "createTime": "2026-02-28T10:00:00Z",
        "updateTime": "2026-02-28T10:00:00Z",
    }
    (folder / "reviews.json").write_text(json.dumps({"reviews": [review]}), encoding="utf-8")


@dataclass
class Walk:
    """What the walk-through ran and saw."""

    db: str
    folder: Path
    env: dict[str, str]
    outputs: list[str] = field(default_factory=list)

    def run(self, step: Step, gateway_url: str) -> subprocess.CompletedProcess[str]:
        argv = [str(ENTRY_POINT), *step.argv(db=self.db, tmp=str(self.folder), gateway=gateway_url)]
        if "--version" not in argv:
            argv.append("-vv")
        done = subprocess.run(  # noqa: S603 - our own entry point
            argv, cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=180, check=False
        )
        both = done.stdout + done.stderr
        shown = step.line.format(db="DB", tmp="TMP", gateway="URL")
        assert done.returncode == step.code, f"clinic-crm {shown}: exit {done.returncode}\n{both[-3000:]}"
        assert "Traceback" not in both, f"clinic-crm {shown}\n{both[-3000:]}"
        if not step.shows_patients:
            self.outputs.append(both)
        return done


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database nothing has touched: a SQLite file not yet created, or a new empty PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'clinic.db'}"
        return
    problem = _pg_available()
    if problem is not None:
        pytest.skip(f"no PostgreSQL server: {problem}")
    with throwaway_postgres(PG_ADMIN_URL, prefix="clinic_crm_walk") as url:
        yield url


def _gateway_fails_one_number(gateway: Gateway) -> None:
    def respond(request: Recorded) -> tuple[int, bytes, dict[str, str], float]:
        if FAILING_NUMBER in json.dumps(request.body):  # a gateway that echoes the number in its error
            return 500, json.dumps({"error": f"upstream refused {FAILING_NUMBER}"}).encode(), {}, 0.0
        return 200, b'{"id": "gw-1"}', {}, 0.0

    gateway.respond[0] = respond


def _book_visits(db: str) -> None:
    """The clinic's scheduling software books a visit for every patient, 23 hours ahead: due for a reminder now."""
    with ClinicCRM(db) as crm:
        for patient in crm.patients.find(1):
            crm.visits.book(patient.id, starts_at=NOW + timedelta(hours=23), kind="cleaning", practitioner="Dr. Lin")


def _python_step(marker: str, db: str) -> None:
    if marker == "book visits":
        _book_visits(db)
    elif marker == "survey answers":
        with ClinicCRM(db) as crm:
            seed(crm.engine, [Resp(1, NOW - timedelta(days=d), nps=v) for d, v in ((3, 10), (4, 9), (5, 6), (40, 2))])
    else:
        with ClinicCRM(db) as crm:
            crm.feedback.record(1, kind="complaint", channel="phone", text="long wait", at=NOW)


def _stored_text(db: str) -> str:
    """Every stored error and reason of the reminders (what a failing sender left behind)."""
    with ClinicCRM(db) as crm, crm.engine.connect() as conn:
        rows = conn.execute(text("SELECT status, last_error, suppressed_reason FROM reminder")).all()
    assert any(status == "failed" or error for status, error, _ in rows), rows  # the failures were recorded
    return "\n".join(" ".join(str(v) for v in row) for row in rows)


@pytest.mark.timeout(1200)  # ~55 processes of ~1.5 s CPU each; far longer on a loaded machine
def test_walkthrough(fresh_db: str, tmp_path: Path, gateway: Gateway, smtp_factory: Any) -> None:
    sqlite = fresh_db.startswith("sqlite")
    smtp: SmtpServer = smtp_factory("plain")
    _gateway_fails_one_number(gateway)
    _write_csvs(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_CRM_")}
    env.update(
        CLINIC_CRM_SMS_URL=gateway.url,
        CLINIC_CRM_SMTP_HOST="127.0.0.1",
        CLINIC_CRM_SMTP_PORT=str(smtp.port),
        CLINIC_CRM_SMTP_FROM="reminders@example.com",
        CLINIC_CRM_SMTP_STARTTLS="0",
        CLINIC_CRM_OUTBOX=str(tmp_path / "outbox.jsonl"),
    )
    walk = Walk(fresh_db, tmp_path, env)
    for step in STEPS:
        if isinstance(step, str):
            _python_step(step, fresh_db)
        elif sqlite or not step.sqlite_only:
            walk.run(step, gateway.url)

    assert not (tmp_path / "missing.db").exists()  # a command that only reads created no file
    # two channels in one run: the gateway got the SMS (one refused), the SMTP server the e-mails (one refused)
    sms_to = json.dumps([r.body for r in gateway.requests])
    assert "+886912345611" in sms_to and FAILING_NUMBER in sms_to and "+886912345621" in sms_to
    delivered = [rcpt for envelope in smtp.handler.envelopes for rcpt in envelope.rcpt_tos]
    assert "anneliese.quill@example.com" in delivered and "nobody@example.net" not in delivered
    # the chart names its clinic (in the image and in the PNG's Title)
    from PIL import Image

    with Image.open(tmp_path / "nps.png") as chart:
        assert "Sunrise Dental" in chart.text["Title"]  # type: ignore[attr-defined]
    assert (tmp_path / "nps.csv").read_text(encoding="utf-8-sig").startswith("group,responses")

    # no patient data anywhere: outputs and logs at -vv, and what the failing senders left in the database
    secrets = _secrets()
    exported = (tmp_path / "export.json").read_text(encoding="utf-8")
    assert any(s in exported for s in secrets)  # the list is in the stored form: this check can fail
    haystacks = [*walk.outputs, _stored_text(fresh_db)]
    for haystack in haystacks:
        leaked = sorted({s for s in secrets if s in haystack})
        assert not leaked, f"patient data in output: {leaked}"


def _all_commands() -> list[list[str]]:
    """Every command path of the parser: ``[]`` (top), ``["reminders"]``, ``["reminders", "plan"]`` …"""
    import argparse

    paths: list[list[str]] = [[]]

    def walk(parser: argparse.ArgumentParser, path: list[str]) -> None:
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, child in action.choices.items():
                    paths.append([*path, name])
                    walk(child, [*path, name])

    walk(build_parser(), [])
    return paths


@pytest.mark.timeout(900)
def test_every_command_has_help_and_a_walked_step(capsys: pytest.CaptureFixture[str]) -> None:
    """``--help`` of every command and action exits 0 without a traceback; every leaf is run by the walk-through.

    The entry point itself is started once (``clinic-crm --help``); each command's help is then asked of the same
    parser in-process (a subprocess per command cost about a minute of interpreter start-up and nothing more).
    """
    walked = {tuple(s.argv(db="x", tmp="x", gateway="x")[:2]) for s in STEPS if isinstance(s, Step)}
    walked |= {(cmd,) for cmd, *_ in walked}
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLINIC_CRM_")}
    done = subprocess.run(  # noqa: S603
        [str(ENTRY_POINT), "--help"], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and "usage: clinic-crm" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr
    paths = _all_commands()
    leaves = [p for p in paths if p and not any(q[: len(p)] == p and len(q) > len(p) for q in paths)]
    for path in paths:
        with pytest.raises(SystemExit) as exited:
            main([*path, "--help"])
        out = capsys.readouterr()
        assert exited.value.code in (0, None) and "usage: clinic-crm" in out.out, path
        assert "Traceback" not in out.out + out.err and "-v" in out.out, path
    missing = [p for p in leaves if tuple(p[:2]) not in walked and (p[0],) not in walked]
    assert not missing, f"commands the walk-through never runs: {missing}"
