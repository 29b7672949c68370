"""Benchmark: survey statistics and the notebook frame beside raw-driver baselines, same run, same data.

* ``crm.surveys.nps(by="month")`` against the same aggregate written by hand in raw SQL and run
  on the raw driver (``sqlite3`` / psycopg 3).  The hand-written SQL computes the month the way
  one would without clinic_crm: ``strftime('%Y-%m', answered_at, '+8 hours')`` on SQLite (the
  benchmark's clinics are all in Asia/Taipei, which has no daylight saving time, so a fixed
  offset is right) and ``to_char(answered_at AT TIME ZONE clinic.timezone, 'YYYY-MM')`` on
  PostgreSQL.  It counts the same responses (first answered nps question by key order).
* ``crm.surveys.frame()`` against a raw cursor ``fetchall`` of the same rows into a
  ``pandas.DataFrame`` (no pivot, no type conversion).

Both sides must agree (checked) and each is timed ``--repeat`` times, best kept.  Printed:
seconds and the ratio ``clinic_crm ÷ raw`` (targets: nps ≤ 1.2, frame ≤ 1.5).

    python bench/surveys.py                 # 1,000,000 responses, SQLite and PostgreSQL
    python bench/surveys.py --quick         # 100,000 responses
    python bench/surveys.py --rows 300000 --no-pg

Data: N responses (plus 10 % unanswered invitations) over 24 months, 4 clinics, each with a
visit, an invitation and answers ``recommend`` (nps), ``overall`` (rating) and, for 5 %, a
``comment`` — bulk-loaded with ``executemany`` (SQLite) or ``COPY`` (PostgreSQL).
PostgreSQL: a throwaway database on ``--pg-url`` is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.engine import make_url

from clinic_crm import ClinicCRM
from clinic_crm.services.surveys.stats import NpsResult
from clinic_crm.testing import throwaway_postgres

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
CLINICS = 4
START = datetime(2024, 6, 1, tzinfo=UTC)
DAYS = 730
KINDS = ["checkup", "cleaning", "filling", "vaccination", "consultation"]
DOCTORS = ["Dr Lin", "Dr Chen", "Dr Wang", "Dr Huang", "Dr Wu", None]
QUESTIONS = [
    {"key": "recommend", "type": "nps", "text": "Would you recommend us?", "options": None, "required": True},
    {"key": "overall", "type": "rating", "text": "Overall", "options": None, "required": True},
    {"key": "comment", "type": "text", "text": "Anything else?", "options": None, "required": False},
]

NPS_COUNTS = """
    sum(CASE WHEN a.int_value >= 9 THEN 1 ELSE 0 END),
    sum(CASE WHEN a.int_value BETWEEN 7 AND 8 THEN 1 ELSE 0 END),
    sum(CASE WHEN a.int_value <= 6 THEN 1 ELSE 0 END)
"""
NPS_WHERE = """
    a.question_type = 'nps' AND a.int_value IS NOT NULL
    AND NOT EXISTS (SELECT 1 FROM answer e WHERE e.response_id = a.response_id AND e.question_type = 'nps'
                    AND e.int_value IS NOT NULL AND e.question_key < a.question_key)
"""
RAW_NPS_SQLITE = f"""
SELECT strftime('%Y-%m', r.answered_at, '+8 hours') AS month, {NPS_COUNTS}
FROM response r JOIN answer a ON a.response_id = r.id
WHERE {NPS_WHERE}
GROUP BY month
"""
RAW_NPS_PG = f"""
SELECT to_char(r.answered_at AT TIME ZONE c.timezone, 'YYYY-MM') AS month, {NPS_COUNTS}
FROM response r JOIN clinic c ON c.id = r.clinic_id JOIN answer a ON a.response_id = r.id
WHERE {NPS_WHERE}
GROUP BY month
"""
RAW_FRAME = """
SELECT r.id AS response_id, r.answered_at, r.clinic_id, r.survey_id, v.kind AS visit_kind, v.practitioner,
       a.question_key, a.question_type, a.int_value, a.text_value
FROM response r JOIN visit v ON v.id = r.visit_id LEFT OUTER JOIN answer a ON a.response_id = r.id
ORDER BY r.id
"""


# --------------------------------------------------------------------------- data


def _generate(rows: int, seed: int = 11) -> Iterator[tuple[str, list[tuple[Any, ...]]]]:
    """Yield ``(table, rows)`` batches of synthetic data; datetimes as naive-UTC ISO text."""
    rnd = random.Random(seed)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    now = START.strftime(fmt)
    yield "clinic", [(c, f"Clinic {c}") for c in range(1, CLINICS + 1)]
    yield "survey", [(c, c, "After visit", 1, json.dumps(QUESTIONS), now) for c in range(1, CLINICS + 1)]
    patients = max(1, rows // 50)
    yield (
        "patient",
        [(p, 1 + p % CLINICS, "Test", "Patient", "zh_TW", "Asia/Taipei", now, now) for p in range(1, patients + 1)],
    )
    invitations = int(rows * 1.1)
    batch = 50_000
    response_id = answer_id = 0
    for lo in range(1, invitations + 1, batch):
        visits, invs, resps, answers = [], [], [], []
        for i in range(lo, min(lo + batch, invitations + 1)):
            patient = rnd.randrange(1, patients + 1)
            clinic = 1 + patient % CLINICS
            sent = START + timedelta(seconds=rnd.randrange(DAYS * 86400))
            visits.append(
                (
                    i,
                    clinic,
                    patient,
                    (sent - timedelta(hours=4)).strftime(fmt),
                    rnd.choice(KINDS),
                    rnd.choice(DOCTORS),
                    "completed",
                    sent.strftime(fmt),
                )
            )
            answered = i % 11 != 0
            answered_at = sent + timedelta(minutes=rnd.randrange(1, 3000))
            invs.append(
                (
                    i,
                    clinic,
                    clinic,
                    i,
                    uuid.uuid4().hex,
                    sent.strftime(fmt),
                    (sent + timedelta(days=14)).strftime(fmt),
                    answered_at.strftime(fmt) if answered else None,
                    rnd.choice(["sms", "sms", "email"]),
                )
            )
            if not answered or response_id >= rows:
                continue
            response_id += 1
            score = min(10, max(0, int(rnd.gauss(8, 2.2))))
            rating = min(5, max(1, int(rnd.gauss(4, 1))))
            given: dict[str, Any] = {"recommend": score, "overall": rating}
            answer_id += 1
            answers.append((answer_id, response_id, "recommend", "nps", score, None))
            answer_id += 1
            answers.append((answer_id, response_id, "overall", "rating", rating, None))
            if rnd.random() < 0.05:
                given["comment"] = "很好，謝謝"
                answer_id += 1
                answers.append((answer_id, response_id, "comment", "text", None, given["comment"]))
            resps.append((response_id, i, clinic, clinic, i, answered_at.strftime(fmt), json.dumps(given)))
        yield "visit", visits
        yield "invitation", invs
        yield "response", resps
        yield "answer", answers


COLUMNS = {
    "survey": "id, clinic_id, name, version, questions, created_at",
    "patient": "id, clinic_id, family_name, given_name, locale, timezone, created_at, updated_at",
    "visit": "id, clinic_id, patient_id, starts_at, kind, practitioner, status, created_at",
    "invitation": "id, survey_id, clinic_id, visit_id, token, sent_at, expires_at, used_at, channel",
    "response": "id, invitation_id, survey_id, clinic_id, visit_id, answered_at, answers",
    "answer": "id, response_id, question_key, question_type, int_value, text_value",
}


def load(url: str, rows: int) -> None:
    """Create the clinics through the facade, then bulk-load everything else on the raw driver."""
    with ClinicCRM(url) as crm:
        crm.migrate()
        for c in range(1, CLINICS + 1):
            crm.clinics.create(f"Clinic {c}", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database or "")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        for table, batch in _generate(rows):
            if table == "clinic" or not batch:
                continue
            marks = ", ".join("?" * len(batch[0]))
            conn.executemany(f"INSERT INTO {table} ({COLUMNS[table]}) VALUES ({marks})", batch)
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
        return
    import psycopg

    with psycopg.connect(_pg_dsn(url)) as conn, conn.cursor() as cur:
        for table, batch in _generate(rows):
            if table == "clinic" or not batch:
                continue
            with cur.copy(f"COPY {table} ({COLUMNS[table]}) FROM STDIN") as copy:
                for row in batch:
                    copy.write_row(
                        [
                            v + "+00" if isinstance(v, str) and len(v) == 26 and v[4] == "-" and v[10] == " " else v
                            for v in row
                        ]
                    )
        for table in COLUMNS:
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")


def _pg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --------------------------------------------------------------------------- timing


def best(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """The best wall time of ``repeat`` calls and the last result."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), result


def raw_connect(url: str) -> Any:
    """A raw DBAPI connection: ``sqlite3`` or psycopg 3."""
    if url.startswith("sqlite"):
        return sqlite3.connect(make_url(url).database or "")
    import psycopg

    return psycopg.connect(_pg_dsn(url))


def raw_nps(url: str) -> dict[str, tuple[int, int, int]]:
    """NPS by month in hand-written SQL on the raw driver."""
    conn = raw_connect(url)
    try:
        cur = conn.cursor()
        cur.execute(RAW_NPS_SQLITE if url.startswith("sqlite") else RAW_NPS_PG)
        return {m: (int(p), int(pa), int(d)) for m, p, pa, d in cur.fetchall()}
    finally:
        conn.close()


def raw_frame(url: str) -> pd.DataFrame:
    """The frame's rows through a raw cursor ``fetchall`` into a DataFrame."""
    conn = raw_connect(url)
    try:
        cur = conn.cursor()
        cur.execute(RAW_FRAME)
        names = [d[0] for d in cur.description]
        return pd.DataFrame.from_records(cur.fetchall(), columns=names, coerce_float=False)
    finally:
        conn.close()


def bench(url: str, label: str, repeat: int) -> tuple[float, float]:
    """Time both pairs on one loaded database; return (nps ratio, frame ratio)."""
    with ClinicCRM(url) as crm:
        ours_nps = lambda: crm.surveys.nps(by="month")  # noqa: E731
        ours_frame = lambda: crm.surveys.frame()  # noqa: E731
        ours_nps()  # warm the connection pool and caches on both sides
        raw_nps(url)
        t_raw_nps, want = best(lambda: raw_nps(url), repeat)
        t_nps, got = best(ours_nps, repeat)
        assert isinstance(got, dict)
        counts = {k: (r.promoters, r.passives, r.detractors) for k, r in got.items() if isinstance(r, NpsResult)}
        assert counts == want, "nps(by='month') disagrees with the raw SQL"
        t_raw_frame, raw_df = best(lambda: raw_frame(url), repeat)
        t_frame, df = best(ours_frame, repeat)
        assert len(df) == raw_df["response_id"].nunique(), "frame() row count disagrees with the raw fetch"
        answers = len(raw_df)
        del raw_df, df
    r_nps, r_frame = t_nps / t_raw_nps, t_frame / t_raw_frame
    print(
        f"[{label}] nps(by='month'): clinic_crm {t_nps:.3f} s, raw SQL {t_raw_nps:.3f} s, "
        f"ratio {r_nps:.2f} (target <= 1.2); months {len(want)}"
    )
    print(
        f"[{label}] frame():         clinic_crm {t_frame:.3f} s, raw fetchall->DataFrame {t_raw_frame:.3f} s, "
        f"ratio {r_frame:.2f} (target <= 1.5); answer rows {answers}"
    )
    return r_nps, r_frame


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000, help="responses (default 1,000,000)")
    parser.add_argument("--quick", action="store_true", help="100,000 responses")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per side; the best is reported")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server URL (a throwaway database is made)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args(argv)
    rows = 100_000 if args.quick else args.rows
    print(f"responses: {rows:,}  (python {sys.version.split()[0]}, sqlite {sqlite3.sqlite_version})")
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'surveys.db'}"
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
