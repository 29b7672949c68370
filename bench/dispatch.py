"""Benchmark: ``crm.reminders.dispatch`` to a null sender beside a raw-driver baseline, 1 and 4 processes.

The baseline does the least a correct dispatcher must do with the raw driver (``sqlite3`` with the same
pragmas and ``BEGIN IMMEDIATE``; psycopg 3 with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL): claim a
batch of 100 due rows in one ``UPDATE … RETURNING`` and commit, then for each message call the sender
and commit one fenced ``UPDATE … WHERE id = ? AND claim_token = ?``.  The engine does that plus the
consent re-check, address / not-mobile / quiet-hours / pause checks, Babel rendering and its
bookkeeping.  Both run on the same rows (reset between runs) in the same database.

    python bench/dispatch.py                  # 20,000 reminders, SQLite and PostgreSQL
    python bench/dispatch.py --quick          # 2,000, best of 3
    python bench/dispatch.py --repeat 3       # 20,000, best of 3 (the machine's other load hits both alike)
    python bench/dispatch.py --rows 5000 --no-pg
    python bench/dispatch.py --profile        # cProfile of the 1-process engine run on SQLite (top 30)

PostgreSQL: ``--pg-url`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); a throwaway
database is created and dropped.  Prints messages/s and the ratio ``raw ÷ engine`` (target ≤ 2), and
each contender's CPU time per message (its own processes; on SQLite that includes the database work)
with their ratio — steadier than wall time when other work shares the machine.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from clinic_crm import ClinicCRM
from clinic_crm.db import SQLITE_BUSY_TIMEOUT_MS
from clinic_crm.messaging.outbox import NullSender
from clinic_crm.models import Reminder
from clinic_crm.testing import throwaway_postgres

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 17:00 in Taipei: outside the clinic's quiet hours
DUE = NOW - timedelta(hours=1)
BATCH = 100
TABLE = Reminder.__table__  # type: ignore[attr-defined]


# --- set-up ---------------------------------------------------------------------------------------------------


def seed(url: str, rows: int) -> None:
    """Migrate, then create one clinic, ``rows`` patients with TW mobiles and one due SMS care reminder each."""
    with ClinicCRM(url) as crm:
        crm.migrate()
        clinic = crm.clinics.create(
            "Sunrise Dental",
            timezone="Asia/Taipei",
            locale="zh_TW",
            region="TW",
            quiet_hours=(clock_time(21), clock_time(8)),
        )
        assert clinic.id is not None
        report = crm.patients.import_rows(
            clinic.id,
            (
                {
                    "family_name": "王",
                    "given_name": f"小明{i}",
                    "phone": f"09{12000000 + i:08d}",
                    "external_id": f"p{i}",
                }
                for i in range(rows)
            ),
        )
        assert report.created == rows and not report.rejected, report.rejected[:3]
        with crm.engine.connect() as conn:
            first = conn.execute(text("SELECT min(id) FROM patient")).scalar_one()
        template = crm.reminders.schedule(first, kind="appointment", purpose="care", due_at=DUE, channel="sms")
        # clone the reminder the API created for every other patient, in one INSERT … SELECT
        key = "lower(hex(randomblob(16)))" if crm.engine.dialect.name == "sqlite" else "md5(random()::text || p.id)"
        names, values = [], []
        for column in TABLE.columns:
            if column.name == "id":
                continue
            names.append(f'"{column.name}"')
            values.append(
                {"patient_id": "p.id", "idempotency_key": key, "plan_key": "NULL"}.get(
                    column.name, f'r."{column.name}"'
                )
            )
        with crm.engine.begin() as conn:
            conn.execute(
                text(
                    f"INSERT INTO reminder ({', '.join(names)}) SELECT {', '.join(values)} "
                    "FROM patient p, reminder r WHERE r.id = :rid AND p.id <> r.patient_id"
                ),
                {"rid": template.id},
            )
            assert conn.execute(text("SELECT count(*) FROM reminder")).scalar_one() == rows


RESET = (
    "UPDATE reminder SET status = 'pending', claim_token = NULL, claimed_at = NULL, ready_at = due_at, "
    "sent_at = NULL, provider_id = NULL, attempts = 0, next_attempt_at = NULL, last_error = NULL, "
    "suppressed_reason = NULL"
)


def reset(url: str) -> None:
    """Make every reminder due again and give both contenders the same clean table."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(RESET))
        if engine.dialect.name == "sqlite":
            conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        else:
            conn.execute(text("VACUUM ANALYZE reminder"))
    engine.dispose()


def count_sent(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        sent = int(conn.execute(text("SELECT count(*) FROM reminder WHERE status = 'sent'")).scalar_one())
    engine.dispose()
    return sent


# --- the contenders ---------------------------------------------------------------------------------------------


def engine_dispatch(url: str) -> int:
    """The library: ``crm.reminders.dispatch(NullSender(), now=NOW)`` until nothing is due."""
    with ClinicCRM(url) as crm:
        report = crm.reminders.dispatch(NullSender(), now=NOW)
    return int(report.sent)


def _sqlite_path(url: str) -> str:
    database = make_url(url).database
    assert database
    return database


def _bind(dialect_name: str) -> Callable[[datetime], Any]:
    """How the engine's ``UTCDateTime`` column stores an instant, for the raw baseline's parameters."""
    engine = create_engine("sqlite://" if dialect_name == "sqlite" else PG_URL)
    processor = TABLE.c.ready_at.type.bind_processor(engine.dialect)
    return processor if processor is not None else (lambda value: value)


def raw_sqlite_dispatch(url: str) -> int:
    """Baseline: sqlite3, claim 100 + commit, then one fenced UPDATE + commit per message."""
    conn = sqlite3.connect(_sqlite_path(url), timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    bind = _bind("sqlite")
    sender = NullSender()
    now, lease_end = bind(NOW), bind(NOW + timedelta(minutes=10))
    sent = 0
    while True:
        token = uuid.uuid4().hex
        conn.execute("BEGIN IMMEDIATE")
        claimed = conn.execute(
            "UPDATE reminder SET status = 'sending', claim_token = ?, claimed_at = ?, ready_at = ? "
            "WHERE id IN (SELECT id FROM reminder WHERE status IN ('pending', 'sending') AND ready_at <= ? "
            "ORDER BY ready_at, id LIMIT ?) RETURNING id, idempotency_key, patient_id",
            (token, now, lease_end, now, BATCH),
        ).fetchall()
        conn.execute("COMMIT")
        if not claimed:
            break
        for rid, key, patient_id in claimed:
            provider_id = _send(sender, rid, key, patient_id)
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "UPDATE reminder SET status = 'sent', sent_at = ?, provider_id = ?, claim_token = NULL "
                "WHERE id = ? AND claim_token = ? AND status = 'sending'",
                (now, provider_id, rid, token),
            )
            conn.execute("COMMIT")
            sent += 1
    conn.close()
    return sent


def raw_pg_dispatch(url: str) -> int:
    """Baseline: psycopg 3, claim 100 with SKIP LOCKED + commit, then one fenced UPDATE + commit per message."""
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    sender = NullSender()
    lease_end = NOW + timedelta(minutes=10)
    sent = 0
    with psycopg.connect(conninfo) as conn:
        while True:
            token = uuid.uuid4().hex
            with conn.transaction():
                claimed = conn.execute(
                    "UPDATE reminder SET status = 'sending', claim_token = %s, claimed_at = %s, ready_at = %s "
                    "WHERE id IN (SELECT id FROM reminder WHERE status IN ('pending', 'sending') AND ready_at <= %s "
                    "ORDER BY ready_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                    "RETURNING id, idempotency_key, patient_id",
                    (token, NOW, lease_end, NOW, BATCH),
                ).fetchall()
            if not claimed:
                break
            for rid, key, patient_id in claimed:
                provider_id = _send(sender, rid, key, patient_id)
                with conn.transaction():
                    conn.execute(
                        "UPDATE reminder SET status = 'sent', sent_at = %s, provider_id = %s, claim_token = NULL "
                        "WHERE id = %s AND claim_token = %s AND status = 'sending'",
                        (NOW, provider_id, rid, token),
                    )
                sent += 1
    return sent


def _send(sender: NullSender, rid: int, key: str, patient_id: int) -> str:
    from clinic_crm.messaging.message import OutboundMessage

    return sender.send(OutboundMessage(key, rid, patient_id, "sms", "+886912000000", None, "reminder", "zh_TW"))


def contender(kind: str, url: str) -> Callable[[str], int]:
    if kind == "engine":
        return engine_dispatch
    return raw_sqlite_dispatch if make_url(url).get_backend_name() == "sqlite" else raw_pg_dispatch


# --- running them ----------------------------------------------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    """``--worker KIND``: wait for the go file, dispatch, print start/end/sent as JSON."""
    run = contender(args.worker, args.url)
    if args.worker == "engine":  # import and connect before the start signal, like the raw driver
        with ClinicCRM(args.url) as crm, crm.engine.connect():
            pass
    Path(args.ready).touch()
    while not Path(args.go).exists():
        time.sleep(0.005)
    start, cpu = time.time(), time.process_time()
    sent = run(args.url)
    print(json.dumps({"start": start, "end": time.time(), "sent": sent, "cpu": time.process_time() - cpu}))


def in_process(kind: str, url: str) -> tuple[float, float, int]:
    run = contender(kind, url)
    started, cpu = time.perf_counter(), time.process_time()
    sent = run(url)
    return time.perf_counter() - started, time.process_time() - cpu, sent


def processes(kind: str, url: str, count: int, folder: Path) -> tuple[float, float, int]:
    tag = uuid.uuid4().hex[:6]
    go = folder / f"go-{tag}"
    readies = [folder / f"ready-{tag}-{i}" for i in range(count)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--url", url, "--ready", str(ready), "--go", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready in readies
    ]
    while not all(r.exists() for r in readies):
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=1800)
        if proc.returncode != 0:
            raise SystemExit(f"{kind} worker failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return wall, sum(r["cpu"] for r in results), sum(r["sent"] for r in results)


def measure(kind: str, url: str, procs: int, folder: Path, rows: int) -> tuple[float, float]:
    """Messages per second of one contender and its CPU time per message (µs, all its processes).

    Checks every reminder ended ``sent``.  The CPU time is the contender's own (the database work
    SQLite does in-process included), so it is less disturbed by other load on a shared machine.
    """
    reset(url)
    wall, cpu, sent = in_process(kind, url) if procs == 1 else processes(kind, url, procs, folder)
    done = count_sent(url)
    if sent != rows or done != rows:
        raise SystemExit(f"{kind} x{procs}: reported {sent} sent, {done} rows 'sent', expected {rows}")
    return rows / wall, cpu * 1e6 / rows


@contextmanager
def sqlite_database(folder: Path) -> Iterator[str]:
    yield f"sqlite:///{folder / 'dispatch.db'}"


Result = tuple[str, int, float, float, float, float]  # label, processes, raw msg/s, msg/s, raw cpu µs, cpu µs


def bench(label: str, url: str, rows: int, folder: Path, process_counts: list[int], repeat: int) -> list[Result]:
    started = time.perf_counter()
    seed(url, rows)
    print(f"{label}: seeded {rows:,} due reminders in {time.perf_counter() - started:.1f}s", flush=True)
    results = []
    for procs in process_counts:
        raw = lib = 0.0
        raw_cpu = lib_cpu = float("inf")
        for _ in range(repeat):  # interleaved, best of ``repeat``: the machine's other load hits both alike
            rate, cpu = measure("raw", url, procs, folder, rows)
            raw, raw_cpu = max(raw, rate), min(raw_cpu, cpu)
            rate, cpu = measure("engine", url, procs, folder, rows)
            lib, lib_cpu = max(lib, rate), min(lib_cpu, cpu)
        results.append((label, procs, raw, lib, raw_cpu, lib_cpu))
        print(
            f"{label:10} x{procs}  raw {raw:9,.0f} msg/s   dispatch {lib:9,.0f} msg/s   ratio {raw / lib:5.2f}"
            f"   cpu/msg raw {raw_cpu:6.1f} us  dispatch {lib_cpu:6.1f} us  ({lib_cpu / raw_cpu:4.2f}x)",
            flush=True,
        )
    return results


def profile(url: str, rows: int) -> None:
    seed(url, rows)
    reset(url)
    profiler = cProfile.Profile()
    profiler.enable()
    sent = engine_dispatch(url)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print(f"profiled dispatch of {sent:,} reminders")
    print(out.getvalue())
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="2,000 reminders")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--pg-url", default=os.environ.get("CLINIC_CRM_TEST_PG", PG_URL))
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=None, help="best of N runs each (default 3 quick, 1 full)")
    parser.add_argument("--profile", action="store_true", help="cProfile the 1-process engine run on SQLite")
    parser.add_argument("--worker", choices=("engine", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    rows = 2_000 if args.quick else args.rows
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 1)
    with tempfile.TemporaryDirectory(prefix="clinic-crm-bench-") as tmp:
        folder = Path(tmp)
        if args.profile:
            with sqlite_database(folder) as url:
                profile(url, rows)
            return
        results = []
        if not args.no_sqlite:
            with sqlite_database(folder) as url:
                results += bench("sqlite", url, rows, folder, args.processes, repeat)
        if not args.no_pg:
            with throwaway_postgres(args.pg_url, prefix="clinic_crm_bench") as url:
                results += bench("postgresql", url, rows, folder, args.processes, repeat)
    print()
    print(
        f"{'backend':10} {'procs':>5} {'raw msg/s':>10} {'dispatch msg/s':>15} {'ratio':>6}  target <= 2"
        f"  {'cpu us/msg raw':>14} {'dispatch':>9} {'cpu ratio':>9}"
    )
    for label, procs, raw, lib, raw_cpu, lib_cpu in results:
        verdict = "ok    " if raw / lib <= 2 else "MISSED"
        print(
            f"{label:10} {procs:>5} {raw:10,.0f} {lib:15,.0f} {raw / lib:6.2f}  {verdict}     "
            f"{raw_cpu:14.1f} {lib_cpu:9.1f} {lib_cpu / raw_cpu:9.2f}"
        )


if __name__ == "__main__":
    main()
