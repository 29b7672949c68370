"""Helpers for the multi-process dispatch tests: seeding due reminders, starting worker processes."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM

WORKER = Path(__file__).with_name("_worker.py")
#: 17:00 in Taipei on a Monday: outside the clinic's quiet hours (21:00-08:00).
T1 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def seed(crm: ClinicCRM, n: int, *, due: datetime) -> list[int]:
    """``n`` SMS care reminders due at ``due``, for ``n`` patients with mobile numbers; returns their ids."""
    clinic = crm.clinics.create(
        "Sunrise Dental",
        timezone="Asia/Taipei",
        locale="zh_TW",
        region="TW",
        quiet_hours=(clock_time(21), clock_time(8)),
    )
    report = crm.patients.import_rows(
        clinic.id,
        (
            {"family_name": "Test", "given_name": f"P{i}", "phone": f"0912{i:06d}", "external_id": f"p-{i}"}
            for i in range(n)
        ),
    )
    assert report.created == n and not report.rejected
    with crm.engine.connect() as conn:
        patient_ids = [row[0] for row in conn.execute(text("SELECT id FROM patient ORDER BY id"))]
    with crm.transaction() as tx:
        ids = [
            tx.reminders.schedule(pid, kind="appointment", purpose="care", due_at=due, channel="sms").id
            for pid in patient_ids
        ]
    return [int(i) for i in ids if i is not None]


@dataclass(frozen=True)
class Row:
    """What the database says about one reminder after the run."""

    status: str
    provider_id: str | None
    idempotency_key: str


def rows(crm: ClinicCRM) -> dict[int, Row]:
    """Every reminder's status, provider id and idempotency key."""
    with crm.engine.connect() as conn:
        return {
            int(r[0]): Row(r[1], r[2], r[3])
            for r in conn.execute(text("SELECT id, status, provider_id, idempotency_key FROM reminder"))
        }


def records(path: Path) -> list[tuple[int, str]]:
    """The ``(reminder_id, idempotency_key)`` pairs a worker's sender was handed, in order."""
    if not path.exists():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        rid, key = line.split()
        out.append((int(rid), key))
    return out


def wait_until(predicate, timeout: float = 60.0, what: str = "condition") -> None:  # type: ignore[no-untyped-def]
    """Poll ``predicate`` every 20 ms; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


class Workers:
    """Starts ``_worker.py`` processes (or another worker ``script``) and makes sure none outlives the test."""

    script: Path = WORKER

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen[str]] = []

    def start(self, db_url: str, name: str, *, now: datetime, **options: object) -> subprocess.Popen[str]:
        args = [
            sys.executable,
            str(self.script),
            "--db",
            db_url,
            "--name",
            name,
            "--now",
            now.isoformat(),
            "--out",
            str(self.folder / f"{name}.txt"),
        ]
        for key, value in options.items():
            if value is not None:
                args += [f"--{key.replace('_', '-')}", str(value)]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def out(self, name: str) -> Path:
        return self.folder / f"{name}.txt"


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> str:
    """Wait for a worker; fail the test with its stderr when it did not exit 0; return its stdout."""
    stdout, stderr = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, f"worker exited {proc.returncode}:\n{stderr[-3000:]}"
    return stdout


@pytest.fixture
def workers(tmp_path: Path) -> Iterator[Workers]:
    """A worker launcher; every process still running at the end is killed."""
    launcher = Workers(tmp_path)
    yield launcher
    for proc in launcher.procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
