"""Benchmark: ``crm.feedback.sla(by="month")`` beside the same aggregate in raw SQL, same run, same data.

The hand-written SQL computes the month the way one would without clinic_crm:
``strftime('%Y-%m', received_at, '+8 hours')`` on SQLite (the benchmark's clinics are all in Asia/Taipei, which
has no daylight saving time, so a fixed offset is right) and ``to_char(received_at AT TIME ZONE clinic.timezone,
'YYYY-MM')`` on PostgreSQL, and counts the same cases, on-time acknowledgements and resolutions, and breaches.
It runs on the raw driver (``sqlite3`` / psycopg 3).  Both sides must agree (checked); each is timed ``--repeat``
times, best kept.  Printed: seconds and the ratio ``clinic_crm ÷ raw`` (target ≤ 1.2).

    python bench/feedback.py                 # 1,000,000 cases, SQLite and PostgreSQL
    python bench/feedback.py --quick         # 10,000 cases
    python bench/feedback.py --rows 300000 --no-pg

Data: N cases over 24 months in 4 clinics, every kind, channel and priority; about 70 % resolved, 15 %
acknowledged, 15 % open; some acts late; a few reopened after a late resolution — bulk-loaded with
``executemany`` (SQLite) or ``COPY`` (PostgreSQL).  PostgreSQL: a throwaway database on ``--pg-url`` is created
and dropped.  Helpers (``best``, ``raw_connect``) come from ``bench/surveys.py``.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from surveys import best, raw_connect

from clinic_crm import ClinicCRM, SlaResult
from clinic_crm.testing import throwaway_postgres

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLINICS = 4
START = datetime(2024, 6, 1, tzinfo=UTC)
DAYS = 730
NOW = START + timedelta(days=DAYS + 10)
KINDS = ["complaint", "question", "suggestion", "compliment"]
CHANNELS = ["front_desk", "phone", "email", "sms", "web", "survey", "review"]
FMT = "%Y-%m-%d %H:%M:%S.%f"

MEASURES = """
    count(*),
    sum(CASE WHEN acknowledged_at IS NOT NULL
              AND (acknowledge_due_at IS NULL OR acknowledged_at <= acknowledge_due_at) THEN 1 ELSE 0 END),
    sum(CASE WHEN resolved_at IS NOT NULL
              AND (resolve_due_at IS NULL OR resolved_at <= resolve_due_at) THEN 1 ELSE 0 END),
    sum(CASE WHEN (acknowledge_due_at IS NOT NULL AND acknowledge_due_at < {now}
                   AND (acknowledged_at IS NULL OR acknowledged_at > acknowledge_due_at))
              OR (resolve_due_at IS NOT NULL AND resolve_due_at < {now}
                   AND (resolved_at IS NULL OR resolved_at > resolve_due_at))
              OR (missed_before_at IS NOT NULL AND missed_before_at < {now}) THEN 1 ELSE 0 END)
"""
RAW_SLA_SQLITE = f"""
SELECT strftime('%Y-%m', received_at, '+8 hours') AS month, {MEASURES.format(now="?")}
FROM feedback_case
GROUP BY month
"""
RAW_SLA_PG = f"""
SELECT to_char(f.received_at AT TIME ZONE c.timezone, 'YYYY-MM') AS month, {MEASURES.format(now="%(now)s")}
FROM feedback_case f JOIN clinic c ON c.id = f.clinic_id
GROUP BY month
"""
COLUMNS = (
    "id, clinic_id, kind, channel, priority, text, status, received_at, acknowledge_due_at, resolve_due_at, "
    "acknowledged_at, resolved_at, resolution, acknowledge_within, resolve_within, missed_before_at"
)


def _ts(value: datetime | None) -> str | None:
    return None if value is None else value.strftime(FMT)


def _generate(rows: int, seed: int = 11) -> Iterator[list[tuple[Any, ...]]]:
    """Yield batches of ``feedback_case`` rows; datetimes as naive-UTC text."""
    rnd = random.Random(seed)
    batch: list[tuple[Any, ...]] = []
    for i in range(1, rows + 1):
        received = START + timedelta(seconds=rnd.randrange(DAYS * 86400))
        kind = rnd.choice(KINDS)
        priority = "urgent" if rnd.random() < 0.1 else "normal"
        ack_due = received + (timedelta(hours=4) if priority == "urgent" else timedelta(days=rnd.choice((3, 4, 5))))
        res_due = None if kind in ("suggestion", "compliment") else received + timedelta(days=rnd.choice((7, 28)))
        fate = rnd.random()
        status, acked, resolved, missed = "open", None, None, None
        if fate < 0.85:
            status, acked = "acknowledged", received + (ack_due - received) * rnd.uniform(0.1, 1.4)
        if fate < 0.70:
            status = "resolved"
            resolved = acked + timedelta(days=rnd.uniform(0, 35))  # type: ignore[operator]
        if fate < 0.01 and res_due is not None:  # reopened after a late resolution
            status, missed, resolved = "acknowledged", res_due, None
            res_due = received + timedelta(days=40)
        batch.append(
            (
                i,
                1 + i % CLINICS,
                kind,
                rnd.choice(CHANNELS),
                priority,
                "等太久了",
                status,
                _ts(received),
                _ts(ack_due),
                _ts(res_due),
                _ts(acked),
                _ts(resolved),
                "apologised" if resolved else None,
                "3 working days",
                None if res_due is None else "20 working days",
                _ts(missed),
            )
        )
        if len(batch) == 50_000:
            yield batch
            batch = []
    if batch:
        yield batch


def load(url: str, rows: int) -> None:
    """Create the clinics through the facade, then bulk-load the cases on the raw driver."""
    with ClinicCRM(url) as crm:
        crm.migrate()
        for c in range(1, CLINICS + 1):
            crm.clinics.create(f"Clinic {c}", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    conn = raw_connect(url)
    try:
        cur = conn.cursor()
        if url.startswith("sqlite"):
            marks = ", ".join("?" * len(COLUMNS.split(", ")))
            for batch in _generate(rows):
                cur.executemany(f"INSERT INTO feedback_case ({COLUMNS}) VALUES ({marks})", batch)
            conn.commit()
            cur.execute("ANALYZE")
            return
        for batch in _generate(rows):
            with cur.copy(f"COPY feedback_case ({COLUMNS}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(
                        [v + "+00" if isinstance(v, str) and len(v) == 26 and v[10] == " " else v for v in row]
                    )
        cur.execute("SELECT setval(pg_get_serial_sequence('feedback_case', 'id'), (SELECT max(id) FROM feedback_case))")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    finally:
        conn.close()


def _utc_text(value: object) -> object:
    """A naive-UTC timestamp text made explicit for ``COPY`` into ``timestamptz``."""
    return value + "+00" if isinstance(value, str) and len(value) == 26 and value[10] == " " else value


def raw_sla(url: str) -> dict[str, tuple[int, int, int, int]]:
    """SLA by month in hand-written SQL on the raw driver."""
    conn = raw_connect(url)
    try:
        cur = conn.cursor()
        if url.startswith("sqlite"):
            cur.execute(RAW_SLA_SQLITE, (_ts(NOW),) * 3)
        else:
            cur.execute(RAW_SLA_PG, {"now": NOW})
        return {m: (int(n), int(a), int(r), int(b)) for m, n, a, r, b in cur.fetchall()}
    finally:
        conn.close()


def bench(url: str, label: str, repeat: int) -> float:
    """Time both sides on one loaded database; return the ratio."""
    with ClinicCRM(url) as crm:
        ours = lambda: crm.feedback.sla(by="month", now=NOW)  # noqa: E731
        ours()  # warm the connection pool and caches on both sides
        raw_sla(url)
        t_raw, want = best(lambda: raw_sla(url), repeat)
        t_ours, got = best(ours, repeat)
    assert isinstance(got, dict)
    counts = {
        k: (r.cases, r.acknowledged_on_time, r.resolved_on_time, r.breached)
        for k, r in got.items()
        if isinstance(r, SlaResult)
    }
    assert counts == want, "sla(by='month') disagrees with the raw SQL"
    ratio = t_ours / t_raw
    print(
        f"[{label}] sla(by='month'): clinic_crm {t_ours:.3f} s, raw SQL {t_raw:.3f} s, "
        f"ratio {ratio:.2f} (target <= 1.2); months {len(want)}, cases {sum(v[0] for v in want.values()):,}"
    )
    return ratio


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="cases (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="10,000 cases")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per side; the best is reported")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server URL (a throwaway database is made)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args(argv)
    rows = 10_000 if args.quick else args.rows
    print(f"cases: {rows:,}  (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version})")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'feedback.db'}"
            t0 = time.perf_counter()
            load(url, rows)
            print(f"[sqlite] loaded in {time.perf_counter() - t0:.1f} s")
            bench(url, "sqlite", args.repeat)
    if not args.no_pg:
        with throwaway_postgres(args.pg_url, prefix="clinic_crm_bench") as url:
            t0 = time.perf_counter()
            load(url, rows)
            print(f"[postgres] loaded in {time.perf_counter() - t0:.1f} s")
            bench(url, "postgres", args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
