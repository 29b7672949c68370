"""Benchmark: ``crm.reminders.plan()`` beside raw set-based SQL making the same reminders, first and idempotent call.

The data: one clinic (Asia/Taipei, birthday greetings on, one fixed-date greeting inside the window), ``N``
patients with birth dates spread over the year, one booked visit each inside the window, and a recall plan
("6 months") with a completed visit for one patient in ten.  ``plan(now, horizon=30 days)`` makes about
``2.2 N`` reminders: ``N`` appointment reminders, ``N`` greetings, ``N/12`` birthdays and ``N/10`` recalls.

The baseline is what a hand-written planner would run with the raw driver (``sqlite3`` / psycopg 3): four
``INSERT … SELECT … ON CONFLICT (plan_key) DO NOTHING`` with the local times written into the SQL (the zone has
no daylight saving time, so a fixed offset is exact), in one transaction.  Library and baseline run in separate
worker processes (so each one's peak RSS is its own), interleaved, on the same database; the reminders are
emptied before each first call.  Prints seconds, the ratios library ÷ baseline (targets ≤ 1.5) and peak RSS.

    python bench/plan.py --quick              # 10,000 patients, SQLite and PostgreSQL, best of 3
    python bench/plan.py                      # 100,000 patients, best of 2
    python bench/plan.py --rows 1000000 --repeat 1
    python bench/plan.py --no-pg / --no-sqlite

PostgreSQL: ``--pg-url`` (default ``CLINIC_CRM_TEST_PG`` or ``postgresql+psycopg://postgres@127.0.0.1:5432/postgres``);
a throwaway database is created and dropped.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import make_url

from clinic_crm import ClinicCRM
from clinic_crm.models import CarePlan, Patient, Visit
from clinic_crm.testing import throwaway_postgres

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)  # 08:00 in Taipei
HORIZON = timedelta(days=30)
UNTIL = NOW + HORIZON
GREETING = (3, 15)  # a fixed-date greeting on 15 March, 10:00 local
T_PATIENT = Patient.__table__  # type: ignore[attr-defined]
T_VISIT = Visit.__table__  # type: ignore[attr-defined]
T_PLAN = CarePlan.__table__  # type: ignore[attr-defined]


# --- set-up ---------------------------------------------------------------------------------------------------


def seed(url: str, rows: int) -> None:
    """Migrate, create the clinic and greeting through the library, then bulk-insert patients, visits and plans."""
    with ClinicCRM(url) as crm:
        crm.migrate()
        clinic = crm.clinics.create("Sunrise Dental", timezone="Asia/Taipei", locale="zh_TW", region="TW")
        assert clinic.id is not None
        crm.clinics.update(clinic.id, birthday_greetings=True)  # type: ignore[arg-type]
        crm.reminders.add_greeting(clinic.id, kind="spring_greeting", month=GREETING[0], day=GREETING[1])
        cid = clinic.id
    engine = create_engine(url)
    created = NOW - timedelta(days=400)
    batch = 20_000
    with engine.begin() as conn:
        for start in range(1, rows + 1, batch):
            ids = range(start, min(start + batch, rows + 1))
            conn.execute(
                insert(T_PATIENT),
                [
                    {
                        "id": i,
                        "clinic_id": cid,
                        "family_name": "王",
                        "given_name": f"小明{i}",
                        "phone": f"+8869{12000000 + i:08d}",
                        "birth_date": date(1960 + i % 50, 1, 1) + timedelta(days=i % 365),
                        "locale": "zh_TW",
                        "timezone": "Asia/Taipei",
                        "created_at": created,
                        "updated_at": created,
                    }
                    for i in ids
                ],
            )
            conn.execute(
                insert(T_VISIT),
                [
                    {
                        "clinic_id": cid,
                        "patient_id": i,
                        "starts_at": NOW + timedelta(days=2 + i % 27, hours=1 + i % 9),
                        "kind": "checkup",
                        "status": "booked",
                        "created_at": created,
                    }
                    for i in ids
                ],
            )
            recalled = [i for i in ids if i % 10 == 0]
            if recalled:
                conn.execute(
                    insert(T_VISIT),
                    [
                        {
                            "clinic_id": cid,
                            "patient_id": i,
                            "starts_at": NOW - timedelta(days=170 + i % 20),
                            "completed_at": NOW - timedelta(days=170 + i % 20, hours=-1),
                            "kind": "cleaning",
                            "status": "completed",
                            "created_at": created,
                        }
                        for i in recalled
                    ],
                )
                conn.execute(
                    insert(T_PLAN),
                    [
                        {
                            "patient_id": i,
                            "kind": "dental_recall",
                            "every": "6 months",
                            "after_visit_kind": "cleaning",
                            "active": True,
                            "created_at": created,
                        }
                        for i in recalled
                    ],
                )
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT setval('patient_id_seq', (SELECT max(id) FROM patient))"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


def reset(url: str) -> None:
    """Empty the reminder table (and compact it), so every first call starts alike."""
    engine = create_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("TRUNCATE reminder CASCADE"))
    else:
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM reminder"))
    engine.dispose()


def count(url: str) -> int:
    engine = create_engine(url)
    with engine.connect() as conn:
        found = int(conn.execute(text("SELECT count(*) FROM reminder")).scalar_one())
    engine.dispose()
    return found


# --- the baseline: raw set-based SQL ----------------------------------------------------------------------------

_COLUMNS = (
    "clinic_id, patient_id, visit_id, care_plan_id, kind, purpose, channel, due_at, ready_at, expires_at, status, "
    "attempts, idempotency_key, plan_key, payload, created_at"
)


def _sqlite_ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _birthday_window() -> tuple[str, str]:
    local = timedelta(hours=8)
    return ((NOW + local).strftime("%m-%d"), (UNTIL + local - timedelta(hours=10)).strftime("%m-%d"))


def raw_statements(dialect: str) -> list[tuple[str, dict[str, Any]]]:
    """The baseline's four statements (appointments, recalls, birthdays, greetings) for ``dialect``."""
    first, last = _birthday_window()
    greet_due = datetime(NOW.year, *GREETING, 2, 0, tzinfo=UTC)  # 10:00 Taipei
    greet_expires = datetime(NOW.year, *GREETING, 16, 0, tzinfo=UTC)
    if dialect == "sqlite":
        ts, key = _sqlite_ts, "lower(hex(randomblob(16)))"
        due_appt = "strftime('%Y-%m-%d %H:%M:%S', v.starts_at, '-1440 minutes') || substr(v.starts_at, 20)"
        recall_due = "strftime('%Y-%m-%d %H:%M:%S', d.done, '+8 hours', '+6 months', '-8 hours') || substr(d.done, 20)"
        recall_epoch = f"CAST(strftime('%s', {recall_due}) AS INTEGER)"
        md = "substr(p.birth_date, 6, 5)"
        bday_due = f"'{NOW.year}-' || {md} || ' 02:00:00.000000'"
        bday_expires = f"'{NOW.year}-' || {md} || ' 16:00:00.000000'"
        empty, greet_payload = "'{}'", '\'{"template": "greeting"}\''
        recall_payload, cast_id = '\'{"template": "recall"}\'', "CAST({} AS TEXT)"
        t = "1"
    else:
        ts, key = (lambda value: value.isoformat()), "replace(gen_random_uuid()::text, '-', '')"
        due_appt = "v.starts_at - interval '1440 minutes'"
        recall_due = "((d.done AT TIME ZONE 'Asia/Taipei') + interval '6 months') AT TIME ZONE 'Asia/Taipei'"
        recall_epoch = f"extract(epoch FROM {recall_due})::bigint"
        md = "to_char(p.birth_date, 'MM-DD')"
        bday_due = f"('{NOW.year}-' || {md} || ' 10:00')::timestamp AT TIME ZONE 'Asia/Taipei'"
        bday_expires = f"('{NOW.year}-' || {md} || ' 00:00')::timestamp AT TIME ZONE 'Asia/Taipei' + interval '1 day'"
        empty, greet_payload = "'{}'::json", '\'{"template": "greeting"}\'::json'
        recall_payload, cast_id = '\'{"template": "recall"}\'::json', "{}::text"
        t = "true"
    alive = "p.erased_at IS NULL AND p.merged_into_id IS NULL"
    tail = " ON CONFLICT (plan_key) DO NOTHING"
    params = {"now": ts(NOW), "until": ts(UNTIL), "until_appt": ts(UNTIL + timedelta(days=1))}
    appointments = (
        f"INSERT INTO reminder ({_COLUMNS}) SELECT v.clinic_id, v.patient_id, v.id, NULL, 'appointment', 'care', "
        f"NULL, {due_appt}, {due_appt}, v.starts_at, 'pending', 0, {key}, "
        f"'appointment:' || {cast_id.format('v.id')} || ':1440', {empty}, :now "
        f"FROM visit v JOIN patient p ON p.id = v.patient_id "
        f"WHERE v.status = 'booked' AND v.starts_at > :now AND v.starts_at <= :until_appt AND {alive}{tail}"
    )
    recalls = (
        f"INSERT INTO reminder ({_COLUMNS}) SELECT p.clinic_id, c.patient_id, NULL, c.id, c.kind, 'care', c.channel, "
        f"{recall_due}, {recall_due}, NULL, 'pending', 0, {key}, "
        f"'recall:' || {cast_id.format('c.id')} || ':' || {cast_id.format(recall_epoch)}, {recall_payload}, :now "
        f"FROM care_plan c JOIN patient p ON p.id = c.patient_id "
        f"JOIN (SELECT patient_id, kind, max(completed_at) AS done FROM visit WHERE status = 'completed' "
        f"GROUP BY patient_id, kind) d ON d.patient_id = c.patient_id AND d.kind = c.after_visit_kind "
        f"WHERE c.active = {t} AND {alive} AND {recall_due} <= :until AND NOT EXISTS (SELECT 1 FROM visit b "
        f"WHERE b.patient_id = c.patient_id AND b.kind = c.after_visit_kind AND b.status IN ('booked', 'checked_in') "
        f"AND b.starts_at > d.done){tail}"
    )
    birthdays = (
        f"INSERT INTO reminder ({_COLUMNS}) SELECT p.clinic_id, p.id, NULL, NULL, 'birthday', 'marketing', NULL, "
        f"{bday_due}, {bday_due}, {bday_expires}, 'pending', 0, {key}, "
        f"'birthday:' || {cast_id.format('p.id')} || ':{NOW.year}', {empty}, :now "
        f"FROM patient p JOIN clinic k ON k.id = p.clinic_id WHERE k.birthday_greetings = {t} "
        f"AND p.birth_date IS NOT NULL AND {md} BETWEEN '{first}' AND '{last}' AND {alive}{tail}"
    )
    greetings = (
        f"INSERT INTO reminder ({_COLUMNS}) SELECT p.clinic_id, p.id, NULL, NULL, g.kind, 'marketing', NULL, "
        f":gdue, :gdue, :gexp, 'pending', 0, {key}, "
        f"'greeting:' || {cast_id.format('g.id')} || ':{NOW.year}:' || {cast_id.format('p.id')}, {greet_payload}, :now "
        f"FROM greeting g JOIN patient p ON p.clinic_id = g.clinic_id WHERE g.active = {t} AND {alive}{tail}"
    )
    greet = {**params, "gdue": ts(greet_due), "gexp": ts(greet_expires)}
    return [(appointments, params), (recalls, params), (birthdays, params), (greetings, greet)]


def raw_plan(url: str) -> int:
    made = 0
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database or "", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("BEGIN IMMEDIATE")
        for sql, params in raw_statements("sqlite"):
            made += conn.execute(sql, params).rowcount
        conn.execute("COMMIT")
        conn.close()
        return made
    import psycopg

    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as pg:
        for sql, params in raw_statements("postgresql"):
            named = sql
            for name in sorted(params, key=len, reverse=True):
                named = named.replace(f":{name}", f"%({name})s")
            made += pg.execute(named, params).rowcount  # type: ignore[call-overload]
    return made


# --- workers --------------------------------------------------------------------------------------------------


def worker(kind: str, url: str) -> None:
    """Run a first and an idempotent call; print their times, counts and this process's peak RSS (JSON)."""
    if kind == "library":
        crm = ClinicCRM(url)
        crm.reminders.list(limit=1)  # connect and warm the engine outside the timing

        def call() -> int:
            return crm.reminders.plan(now=NOW, horizon=HORIZON)
    else:

        def call() -> int:
            return raw_plan(url)

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    first = call()
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = call()
    again_s = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"first": first_s, "again": again_s, "made": first, "remade": again, "rss0": before, "rss": peak}))


def run(kind: str, url: str) -> dict[str, Any]:
    reset(url)
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--url", url], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["rows"] = count(url)
    return result


def bench(label: str, url: str, rows: int, repeat: int) -> dict[str, Any]:
    started = time.perf_counter()
    seed(url, rows)
    print(f"{label}: seeded {rows:,} patients in {time.perf_counter() - started:.1f} s", flush=True)
    best: dict[str, dict[str, Any]] = {}
    for round_ in range(repeat):
        for kind in ("library", "raw") if round_ % 2 == 0 else ("raw", "library"):
            got = run(kind, url)
            print(
                f"  {kind:8} first {got['first']:8.2f} s  again {got['again']:8.2f} s  made {got['made']:,} "
                f"rows {got['rows']:,}  peak RSS {got['rss'] / 1024:.0f} MB",
                flush=True,
            )
            if got["remade"] != 0:
                raise SystemExit(f"{kind}: the idempotent call made {got['remade']} reminders")
            mine = best.setdefault(kind, got)
            for field in ("first", "again"):
                mine[field] = min(mine[field], got[field])
            mine["rss"] = max(mine["rss"], got["rss"])
    lib, raw = best["library"], best["raw"]
    if lib["rows"] != raw["rows"]:
        print(f"  note: library made {lib['rows']:,} reminders, baseline {raw['rows']:,}")
    return {"label": label, "rows": rows, "lib": lib, "raw": raw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="patients (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="10,000 patients, best of 3")
    parser.add_argument("--repeat", type=int, default=None, help="rounds (default 3 quick, 2 otherwise)")
    parser.add_argument("--no-pg", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--pg-url", default=os.environ.get("CLINIC_CRM_TEST_PG", PG_URL))
    parser.add_argument("--worker", choices=("library", "raw"), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.url)
        return
    rows = 10_000 if args.quick else args.rows
    repeat = args.repeat if args.repeat is not None else (3 if args.quick else 2)
    results = []
    with tempfile.TemporaryDirectory(prefix="clinic-crm-bench-") as tmp:
        if not args.no_sqlite:
            results.append(bench("sqlite", f"sqlite:///{Path(tmp) / 'plan.db'}", rows, repeat))
        if not args.no_pg:
            with throwaway_postgres(args.pg_url, prefix="clinic_crm_bench") as url:
                results.append(bench("postgresql", url, rows, repeat))
    print()
    print(
        f"{'backend':10} {'patients':>9} {'reminders':>9} {'first s':>8} {'raw s':>7} {'ratio':>6} "
        f"{'again s':>8} {'raw s':>7} {'ratio':>6}  {'peak RSS MB lib/raw':>20}  target <= 1.5"
    )
    for r in results:
        lib, raw = r["lib"], r["raw"]
        ratios = (lib["first"] / raw["first"], lib["again"] / raw["again"])
        verdict = "ok" if max(ratios) <= 1.5 else "MISSED"
        print(
            f"{r['label']:10} {r['rows']:>9,} {lib['rows']:>9,} {lib['first']:8.2f} {raw['first']:7.2f} "
            f"{ratios[0]:6.2f} {lib['again']:8.2f} {raw['again']:7.2f} {ratios[1]:6.2f}  "
            f"{lib['rss'] / 1024:9.0f} / {raw['rss'] / 1024:<9.0f}  {verdict}"
        )


if __name__ == "__main__":
    main()
