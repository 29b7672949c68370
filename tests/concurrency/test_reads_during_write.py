"""Reads don't wait for another process's writer (issue 8.3): a real second process holds a write transaction.

On SQLite the other process holds ``BEGIN IMMEDIATE`` (the write lock) and has changed a row; on PostgreSQL it holds
row locks on the same rows.  Read-only calls return while it still holds them; an audited read (``patients.get``)
returns its data only once its audit event is written, which on SQLite needs the write lock, so it waits for it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from clinic_crm import ClinicCRM

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

#: The other process: opens a write transaction, changes rows, says "locked", holds until a line arrives on stdin.
_WRITER = r"""
import sys
import threading
url = sys.argv[1]
if url.startswith("sqlite"):
    import sqlite3
    conn = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("UPDATE clinic SET name = name || ''")
    conn.execute("UPDATE patient SET family_name = family_name || ''")
else:
    import psycopg
    conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    conn.execute("UPDATE clinic SET name = name || ''")
    conn.execute("UPDATE patient SET family_name = family_name || ''")
    conn.execute("UPDATE visit SET kind = kind || ''")
    conn.execute("UPDATE reminder SET kind = kind || ''")
print("locked", flush=True)
sys.stdin.readline()
conn.commit() if not url.startswith("sqlite") else conn.execute("COMMIT")
conn.close()
"""


@pytest.fixture
def writer(crm: ClinicCRM, db_url: str) -> Iterator[subprocess.Popen[str]]:
    """Seed a clinic, patient, visit and reminder, then start the writer and wait until it holds its locks."""
    clinic = crm.clinics.create("Sunrise", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    patient = crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912345678")
    crm.visits.book(patient.id, starts_at=T0, kind="cleaning")
    crm.reminders.schedule(patient.id, kind="appointment", purpose="care", due_at=T0, channel="sms")
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, db_url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    with proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                _release(proc)
            proc.wait(timeout=30)


def _release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    if not proc.stdin.closed:
        proc.stdin.write("\n")
        proc.stdin.flush()


def test_read_only_calls_return_while_another_process_writes(crm: ClinicCRM, writer: subprocess.Popen[str]) -> None:
    clinic_id = 1  # the writer fixture's clinic (clinics.list() is not a read-only call: it would wait)
    started = time.monotonic()
    (visit,) = crm.visits.history(1)
    reminder = crm.reminders.get(1)
    overdue = crm.surveys.follow_ups(clinic_id, overdue=True, now=T0)
    stats = crm.visits.stats(clinic_id, since=T0 - timedelta(days=1), until=T0 + timedelta(days=1))
    score = crm.surveys.nps(clinic_id=clinic_id)
    consent = crm.patients.has_consent(1, "sms", "care", at=T0)
    elapsed = time.monotonic() - started
    assert writer.poll() is None, "the writer still holds its transaction: every read above ran beside it"
    assert elapsed < 10, f"reads took {elapsed:.1f} s beside a writer (SQLite's busy timeout is 60 s)"
    assert visit.kind == "cleaning" and reminder.status == "pending" and overdue == []
    assert stats.visits == 1 and score.responses == 0 and consent is True


def test_audited_read_writes_its_event_after_the_writer(crm: ClinicCRM, writer: subprocess.Popen[str]) -> None:
    before = len(crm.audit.for_patient(1))  # itself a read: returns beside the writer
    assert writer.poll() is None
    started = time.monotonic()

    threading.Timer(1.0, _release, args=(writer,)).start()
    patient = crm.patients.get(1)
    waited = time.monotonic() - started
    assert patient.family_name == "王"
    events = crm.audit.for_patient(1)
    assert len(events) == before + 1 and events[-1].action == "read"
    assert crm.audit.verify()
    if crm.engine.dialect.name == "sqlite":
        assert waited >= 0.9, "on SQLite the audit event needs the write lock: get() waited for the writer"
