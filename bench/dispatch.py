"""Benchmark: ``crm.reminders.dispatch`` to a null sender beside a raw-driver loop, at growing backlogs.

Issue 10: the cost of dispatching must follow the work, not the backlog.  For each backlog (10k, 100k, 1M due
SMS appointment reminders, one per patient, each with a booked visit so the message is rendered with Babel's
date and time formats in the patient's locale and zone), each contender dispatches the same fixed amount of
work (``--work`` messages, default 5,000; ``limit=`` on the engine) with 1 and 4 processes, interleaved, on
the same rows (reset between runs), in the same database.

The raw baseline does the least a correct dispatcher must do with the raw driver (``sqlite3`` with the same
pragmas and ``BEGIN IMMEDIATE``; psycopg 3 with ``FOR UPDATE SKIP LOCKED``): claim a batch of 100 due rows in
one ``UPDATE … RETURNING`` with the same index-friendly claim query as the library (so neither sorts the
backlog) and commit, then for each message call the sender and commit one fenced ``UPDATE … WHERE id = ? AND
claim_token = ?``.  The engine does that plus the consent re-check, address / not-mobile / quiet-hours / pause /
expiry checks, Babel rendering and its bookkeeping.

    python bench/dispatch.py --quick          # backlog 10k, best of 2
    python bench/dispatch.py                  # backlogs 10k and 100k
    python bench/dispatch.py --sizes 10000 100000 1000000 --no-sqlite
    python bench/dispatch.py --sizes 20000 --work 20000   # issue 7's 20k run: the whole backlog (target <= 2)
    python bench/dispatch.py --profile        # cProfile of the 1-process engine run on SQLite (top 30)

Prints, per backlog and process count: msg/s of both and ``engine time / raw time`` (targets: <= 1.2, issue 10;
<= 2, issue 7), each contender's CPU time per message (its own processes; on SQLite that includes the database
work) — steadier than wall time on a shared machine — then ``msg/s(largest) / msg/s(smallest)`` (target >= 0.8)
and the ``EXPLAIN`` of the claim query at the largest backlog.  PostgreSQL: ``--pg-url`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``); a throwaway database is created and dropped.
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
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import Table, create_engine, text
from sqlalchemy.engine import Engine, make_url

from clinic_crm import ClinicCRM
from clinic_crm.db import SQLITE_BUSY_TIMEOUT_MS
from clinic_crm.messaging.outbox import NullSender
from clinic_crm.models import Patient, Reminder, Visit
from clinic_crm.services.reminders.claims import claim_query
from clinic_crm.testing import throwaway_postgres

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # 17:00 in Taipei: outside the clinic's quiet hours
DUE = NOW - timedelta(hours=1)
BATCH = 100
REMINDER: Table = Reminder.__table__  # type: ignore[attr-defined]
PATIENT: Table = Patient.__table__  # type: ignore[attr-defined]
VISIT: Table = Visit.__table__  # type: ignore[attr-defined]


# --- set-up ---------------------------------------------------------------------------------------------------


def _numbers(dialect: str) -> str:
    """A ``FROM`` item ``n(i)`` of the integers ``1 .. :count``."""
    if dialect == "sqlite":
        return "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :count) SELECT i FROM s) n"
    return "generate_series(1, :count) AS n(i)"


def _clone(conn: Any, table: Table, source: str, where: str, overrides: dict[str, str], params: dict[str, Any]) -> None:
    """``INSERT INTO table SELECT …`` copying every column of the template row ``t`` but ``id`` and ``overrides``."""
    names = [c.name for c in table.columns if c.name != "id"]
    values = [overrides.get(name, f't."{name}"') for name in names]
    columns = ", ".join(f'"{name}"' for name in names)
    conn.execute(
        text(f"INSERT INTO {table.name} ({columns}) SELECT {', '.join(values)} FROM {source} WHERE {where}"), params
    )


def seed(url: str, rows: int) -> None:
    """One clinic; ``rows`` patients with TW mobiles, each with a booked visit and one due SMS appointment reminder.

    The first patient, visit and reminder go through the API; the others are cloned from them set-based.
    """
    with ClinicCRM(url) as crm:
        crm.migrate()
        clinic = crm.clinics.create(
            "Sunrise Dental",
            timezone="Asia/Taipei",
            locale="zh_TW",
            region="TW",
            quiet_hours=(clock_time(21), clock_time(8)),
        )
        patient = crm.patients.register(
            clinic.id, family_name="王", given_name="小明", phone="0912000000", external_id="p0"
        )
        visit = crm.visits.book(patient.id, starts_at=NOW + timedelta(days=1), kind="checkup", practitioner="Dr. Lin")
        reminder = crm.reminders.schedule(
            patient.id, kind="appointment", purpose="care", due_at=DUE, channel="sms", visit_id=visit.id
        )
        dialect = crm.engine.dialect.name
        pad = "printf('%08d', n.i)" if dialect == "sqlite" else "lpad(n.i::text, 8, '0')"
        key = "lower(hex(randomblob(16)))" if dialect == "sqlite" else "md5(random()::text || v.id)"
        with crm.engine.begin() as conn:
            _clone(
                conn,
                PATIENT,
                f"patient t, {_numbers(dialect)}",
                "t.id = :pid",
                {"external_id": "'p' || n.i", "phone": f"'+8869' || {pad}", "given_name": "t.given_name || n.i"},
                {"pid": patient.id, "count": rows - 1},
            )
            _clone(
                conn,
                VISIT,
                "visit t, patient p",
                "t.id = :vid AND p.id <> t.patient_id",
                {"patient_id": "p.id"},
                {"vid": visit.id},
            )
            _clone(
                conn,
                REMINDER,
                "reminder t, visit v",
                "t.id = :rid AND v.id <> t.visit_id",
                {"patient_id": "v.patient_id", "visit_id": "v.id", "idempotency_key": key, "plan_key": "NULL"},
                {"rid": reminder.id},
            )
            assert conn.execute(text("SELECT count(*) FROM reminder")).scalar_one() == rows
        if dialect == "postgresql":
            with crm.engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        else:
            with crm.engine.begin() as conn:
                conn.execute(text("ANALYZE"))


RESET = (
    "UPDATE reminder SET status = 'pending', claim_token = NULL, claimed_at = NULL, ready_at = due_at, "
    "sent_at = NULL, provider_id = NULL, attempts = 0, next_attempt_at = NULL, last_error = NULL, "
    "suppressed_reason = NULL WHERE status IN ('sent', 'sending', 'suppressed', 'failed')"
)


def reset(url: str) -> None:
    """Make every reminder due again (only the rows a run touched) and give both contenders the same table."""
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


def explain(url: str) -> str:
    """The plan of the library's claim query (a batch of 100) on this database as it is now."""
    engine: Engine = create_engine(url)
    dialect = engine.dialect
    compiled = claim_query(dialect.name, BATCH, NOW).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if dialect.name == "sqlite":
            lines = [str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))]
        else:
            lines = [str(row[0]) for row in conn.execute(text(f"EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {compiled}"))]
            conn.rollback()  # FOR UPDATE took row locks
    engine.dispose()
    return "\n".join(lines)


# --- the contenders ---------------------------------------------------------------------------------------------


def engine_dispatch(url: str, work: int) -> int:
    """The library: ``crm.reminders.dispatch(NullSender(), now=NOW, limit=work)``."""
    with ClinicCRM(url) as crm:
        report = crm.reminders.dispatch(NullSender(), now=NOW, limit=work)
    return int(report.sent)


def _sqlite_path(url: str) -> str:
    database = make_url(url).database
    assert database
    return database


def _bind(dialect_name: str) -> Callable[[datetime], Any]:
    """How the engine's ``UTCDateTime`` column stores an instant, for the raw baseline's parameters."""
    engine = create_engine("sqlite://" if dialect_name == "sqlite" else PG_URL)
    processor = REMINDER.c.ready_at.type.bind_processor(engine.dialect)
    return processor if processor is not None else (lambda value: value)


# the same index-friendly claim as the library's: two (status, ready_at) range scans on SQLite
RAW_SQLITE_DUE = (
    "SELECT id FROM (SELECT id FROM (SELECT id FROM reminder WHERE status = 'sending' AND ready_at <= ? "
    "ORDER BY ready_at, id LIMIT ?) UNION ALL SELECT id FROM (SELECT id FROM reminder WHERE status = 'pending' "
    "AND ready_at <= ? ORDER BY ready_at, id LIMIT ?)) LIMIT ?"
)


def raw_sqlite_dispatch(url: str, work: int) -> int:
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
    while sent < work:
        size = min(BATCH, work - sent)
        token = uuid.uuid4().hex
        conn.execute("BEGIN IMMEDIATE")
        claimed = conn.execute(
            "UPDATE reminder SET status = 'sending', claim_token = ?, claimed_at = ?, ready_at = ? "
            f"WHERE id IN ({RAW_SQLITE_DUE}) RETURNING id, idempotency_key, patient_id",
            (token, now, lease_end, now, size, now, size, size),
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


def raw_pg_dispatch(url: str, work: int) -> int:
    """Baseline: psycopg 3, claim 100 with SKIP LOCKED + commit, then one fenced UPDATE + commit per message."""
    import psycopg

    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    sender = NullSender()
    lease_end = NOW + timedelta(minutes=10)
    sent = 0
    with psycopg.connect(conninfo) as conn:
        while sent < work:
            size = min(BATCH, work - sent)
            token = uuid.uuid4().hex
            with conn.transaction():
                claimed = conn.execute(
                    "UPDATE reminder SET status = 'sending', claim_token = %s, claimed_at = %s, ready_at = %s "
                    "WHERE id IN (SELECT id FROM reminder WHERE status IN ('pending', 'sending') AND ready_at <= %s "
                    "ORDER BY ready_at, id LIMIT %s FOR UPDATE SKIP LOCKED) "
                    "RETURNING id, idempotency_key, patient_id",
                    (token, NOW, lease_end, NOW, size),
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


def contender(kind: str, url: str) -> Callable[[str, int], int]:
    if kind == "engine":
        return engine_dispatch
    return raw_sqlite_dispatch if make_url(url).get_backend_name() == "sqlite" else raw_pg_dispatch


# --- running them ----------------------------------------------------------------------------------------------


def worker(args: argparse.Namespace) -> None:
    """``--worker KIND``: wait for the go file, dispatch ``--work`` messages, print start/end/sent as JSON."""
    run = contender(args.worker, args.url)
    if args.worker == "engine":  # import and connect before the start signal, like the raw driver
        with ClinicCRM(args.url) as crm, crm.engine.connect():
            pass
    Path(args.ready).touch()
    while not Path(args.go).exists():
        time.sleep(0.005)
    start, cpu = time.time(), time.process_time()
    sent = run(args.url, args.work)
    print(json.dumps({"start": start, "end": time.time(), "sent": sent, "cpu": time.process_time() - cpu}))


def in_process(kind: str, url: str, work: int) -> tuple[float, float, int]:
    run = contender(kind, url)
    started, cpu = time.perf_counter(), time.process_time()
    sent = run(url, work)
    return time.perf_counter() - started, time.process_time() - cpu, sent


def processes(kind: str, url: str, count: int, folder: Path, work: int) -> tuple[float, float, int]:
    tag = uuid.uuid4().hex[:6]
    go = folder / f"go-{tag}"
    readies = [folder / f"ready-{tag}-{i}" for i in range(count)]
    share = [work // count + (1 if i < work % count else 0) for i in range(count)]
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", kind, "--url", url, "--ready", str(ready), "--go", str(go)]
            + ["--work", str(part)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ready, part in zip(readies, share, strict=True)
    ]
    while not all(r.exists() for r in readies):
        if any(p.poll() not in (None, 0) for p in procs):
            break
        time.sleep(0.01)
    go.touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"{kind} worker failed:\n{err[-3000:]}")
        results.append(json.loads(out.strip().splitlines()[-1]))
    wall = max(r["end"] for r in results) - min(r["start"] for r in results)
    return wall, sum(r["cpu"] for r in results), sum(r["sent"] for r in results)


def measure(kind: str, url: str, procs: int, folder: Path, work: int) -> tuple[float, float]:
    """Messages per second of one contender and its CPU time per message (µs, all its processes).

    Checks that exactly ``work`` reminders ended ``sent``.  The CPU time is the contender's own (the database
    work SQLite does in-process included), so it is less disturbed by other load on a shared machine.
    """
    reset(url)
    wall, cpu, sent = in_process(kind, url, work) if procs == 1 else processes(kind, url, procs, folder, work)
    done = count_sent(url)
    if sent != work or done != work:
        raise SystemExit(f"{kind} x{procs}: reported {sent} sent, {done} rows 'sent', expected {work}")
    return work / wall, cpu * 1e6 / work


Result = tuple[str, int, int, float, float, float, float]  # label, backlog, procs, raw/s, engine/s, raw µs, engine µs


def bench(
    label: str, url: str, rows: int, work: int, folder: Path, process_counts: list[int], repeat: int, plan: bool
) -> list[Result]:
    started = time.perf_counter()
    seed(url, rows)
    print(
        f"{label}: seeded {rows:,} due reminders (patients, visits) in {time.perf_counter() - started:.1f}s", flush=True
    )
    results = []
    for procs in process_counts:
        raw = lib = 0.0
        raw_cpu = lib_cpu = float("inf")
        for _ in range(repeat):  # interleaved, best of ``repeat``: the machine's other load hits both alike
            rate, cpu = measure("raw", url, procs, folder, work)
            raw, raw_cpu = max(raw, rate), min(raw_cpu, cpu)
            rate, cpu = measure("engine", url, procs, folder, work)
            lib, lib_cpu = max(lib, rate), min(lib_cpu, cpu)
        results.append((label, rows, procs, raw, lib, raw_cpu, lib_cpu))
        print(
            f"{label:10} {rows:>9,} x{procs}  raw {raw:7,.0f} msg/s  dispatch {lib:7,.0f} msg/s  ratio {raw / lib:5.2f}"
            f"  cpu/msg raw {raw_cpu:6.1f} us  dispatch {lib_cpu:6.1f} us ({lib_cpu / raw_cpu:4.2f}x)",
            flush=True,
        )
    if plan:
        reset(url)
        print(f"\nEXPLAIN of the claim query, {label}, backlog {rows:,}:\n{explain(url)}\n", flush=True)
    return results


def profile(url: str, rows: int, work: int) -> None:
    seed(url, rows)
    reset(url)
    profiler = cProfile.Profile()
    profiler.enable()
    sent = engine_dispatch(url, work)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
    print(f"profiled dispatch of {sent:,} reminders")
    print(out.getvalue())
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(20)
    print(out.getvalue())


def report(results: list[Result]) -> None:
    print(
        f"\n{'backend':10} {'backlog':>9} {'procs':>5} {'raw msg/s':>9} {'engine msg/s':>12} {'ratio':>6}"
        f"  {'<=1.2':>6} {'<=2':>4}  {'cpu us raw':>10} {'engine':>7} {'cpu ratio':>9}"
    )
    for label, rows, procs, raw, lib, raw_cpu, lib_cpu in results:
        ratio = raw / lib
        print(
            f"{label:10} {rows:>9,} {procs:>5} {raw:9,.0f} {lib:12,.0f} {ratio:6.2f}  "
            f"{'ok' if ratio <= 1.2 else 'MISSED':>6} {'ok' if ratio <= 2 else 'MISSED':>4}  "
            f"{raw_cpu:10.1f} {lib_cpu:7.1f} {lib_cpu / raw_cpu:9.2f}"
        )
    print(f"\n{'backend':10} {'procs':>5} {'largest/smallest backlog':>26} {'engine msg/s ratio':>19}  target >= 0.8")
    for label in dict.fromkeys(r[0] for r in results):
        for procs in dict.fromkeys(r[2] for r in results if r[0] == label):
            mine = sorted((r for r in results if r[0] == label and r[2] == procs), key=lambda r: r[1])
            if len(mine) < 2:
                continue
            small, large = mine[0], mine[-1]
            flat = large[4] / small[4]
            raw_flat = large[3] / small[3]
            print(
                f"{label:10} {procs:>5} {f'{large[1]:,} / {small[1]:,}':>26} {flat:19.2f}  "
                f"{'ok' if flat >= 0.8 else 'MISSED'}   (raw loop: {raw_flat:.2f})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="backlogs of due reminders")
    parser.add_argument("--work", type=int, default=5_000, help="messages each run dispatches (default 5,000)")
    parser.add_argument("--quick", action="store_true", help="backlog 10k only, best of 2")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--pg-url", default=os.environ.get("CLINIC_CRM_TEST_PG", PG_URL))
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--repeat", type=int, default=None, help="best of N runs each (default 2 quick, 1 full)")
    parser.add_argument("--profile", action="store_true", help="cProfile the 1-process engine run on SQLite")
    parser.add_argument("--worker", choices=("engine", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--ready", help=argparse.SUPPRESS)
    parser.add_argument("--go", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    sizes = [10_000] if args.quick else sorted(args.sizes)
    repeat = args.repeat if args.repeat is not None else (2 if args.quick else 1)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="clinic-crm-bench-") as tmp:
        folder = Path(tmp)
        if args.profile:
            profile(f"sqlite:///{folder / 'profile.db'}", sizes[0], min(args.work, sizes[0]))
            return
        for rows in sizes:
            work = min(args.work, rows)
            if not args.no_sqlite:
                url = f"sqlite:///{folder / f'dispatch-{rows}.db'}"
                results += bench("sqlite", url, rows, work, folder, args.processes, repeat, rows == sizes[-1])
                Path(_sqlite_path(url)).unlink()
            if not args.no_pg:
                with throwaway_postgres(args.pg_url, prefix="clinic_crm_bench") as url:
                    results += bench("postgresql", url, rows, work, folder, args.processes, repeat, rows == sizes[-1])
    report(results)
    print("\n(the machine is shared: other sessions' work hits both contenders alike, interleaved runs)")


if __name__ == "__main__":
    main()
