"""Benchmark: the cost of reads — name search at scale, history and follow-ups beside raw SQL, audit overhead.

For each database: ``--rows`` patients (names drawn from common Taiwanese and Latin family and given names) are
bulk-loaded on the raw driver (SQLite's FTS5 triggers and PostgreSQL's GIN index maintained as in production),
50 visits of one patient and 200 overdue follow-ups are made through the facade, then, interleaved and repeated
(best of each kept, so a busy machine disturbs both sides alike):

* ``find(name=…)`` in ms (a three-character CJK name, a Latin "given family" query, and short words of one and
  two characters, CJK and Latin), with the ``EXPLAIN`` of the statement the library ran, showing the trigram
  index or the short-gram index (revision 0014); on PostgreSQL the time to build each GIN index after the load;
* ``visits.history`` and ``surveys.follow_ups(overdue=True)`` against the same query on the raw driver
  (``cursor.execute`` + ``fetchall``): the ratio is the library's cost per call over raw SQL's;
* ``patients.get`` / ``find`` with and without the audit trail (``record_audit`` replaced by a no-op).

    python bench/reads.py --quick            # 10,000 patients, SQLite and PostgreSQL
    python bench/reads.py --rows 100000
    python bench/reads.py --rows 1000000 --sqlite
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url

from clinic_crm import ClinicCRM
from clinic_crm.db.name_search import GRAMS_INDEX, TRGM_INDEX
from clinic_crm.services import patients as patients_svc
from clinic_crm.testing import throwaway_postgres

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
FAMILY = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴徐周葉蘇莊呂江何蕭羅高"
GIVEN = "志明俊傑家豪宗翰冠宇怡君雅婷欣怡佳穎詩涵承恩柏翰宥廷品妍子晴"
LATIN_FAMILY = ["Wang", "Chen", "Lin", "Smith", "Garcia", "Nguyen", "Kim", "Müller", "Tanaka", "Silva"]
LATIN_GIVEN = ["Amy", "Jason", "Kevin", "Grace", "Maria", "Olivia", "Noah", "Liam", "Emma", "Yuki"]


def _names(rows: int, rnd: random.Random) -> Iterator[tuple[str, str]]:
    for i in range(rows):
        if i % 4 == 3:
            yield rnd.choice(LATIN_FAMILY), f"{rnd.choice(LATIN_GIVEN)}{i}"
        else:
            yield rnd.choice(FAMILY), rnd.choice(GIVEN) + rnd.choice(GIVEN)


def load_patients(url: str, clinic_id: int, rows: int) -> None:
    """``rows`` patients of the clinic on the raw driver, in batches; then ANALYZE."""
    rnd = random.Random(7)
    stamp = "2026-01-01 00:00:00.000000"
    batch: list[tuple[Any, ...]] = []
    sql = "INSERT INTO patient (clinic_id, family_name, given_name, locale, timezone, created_at, updated_at)"
    if url.startswith("sqlite"):
        conn = sqlite3.connect(make_url(url).database or "")
        for family, given in _names(rows, rnd):
            batch.append((clinic_id, family, given, "zh_TW", "Asia/Taipei", stamp, stamp))
            if len(batch) == 50_000:
                conn.executemany(sql + " VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
                batch.clear()
        conn.executemany(sql + " VALUES (?, ?, ?, ?, ?, ?, ?)", batch)
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
        return
    import psycopg

    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(False)) as conn:
        with conn.cursor() as cur:
            # the name indexes are rebuilt after the bulk load (faster than maintaining them row by row)
            definitions = []
            for index in (TRGM_INDEX, GRAMS_INDEX):
                found = cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = %s", (index,)).fetchone()
                if found is not None:
                    definitions.append((index, found[0]))
                cur.execute(f"DROP INDEX IF EXISTS {index}")
            cols = "clinic_id, family_name, given_name, locale, timezone, created_at, updated_at"
            with cur.copy(f"COPY patient ({cols}) FROM STDIN") as copy:
                for family, given in _names(rows, rnd):
                    copy.write_row((clinic_id, family, given, "zh_TW", "Asia/Taipei", stamp + "+00", stamp + "+00"))
            for index, definition in definitions:
                started = time.perf_counter()
                cur.execute(definition)
                print(f"built {index} in {time.perf_counter() - started:.1f} s")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE patient")


def seed(crm: ClinicCRM, rows: int, url: str) -> tuple[int, int, int]:
    """Clinic, bulk patients, then through the facade: a patient with 50 visits and 200 overdue follow-ups."""
    clinic = crm.clinics.create("Sunrise", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    load_patients(url, clinic.id, rows)
    patient = crm.patients.register(clinic.id, family_name="歐陽", given_name="小明")
    crm.patients.register(clinic.id, family_name="Xu", given_name="Jo")  # the only "xu", "x" and "jo"
    for i in range(50):
        crm.visits.book(patient.id, starts_at=T0 - timedelta(days=7 * i), kind="cleaning", practitioner="Dr Lee")
    survey = crm.surveys.create(clinic.id, name="after visit", questions=[{"key": "nps", "type": "nps", "text": "?"}])
    for i in range(200):
        visit = crm.visits.book(i + 1, starts_at=T0 - timedelta(days=30, minutes=i), kind="cleaning")
        crm.visits.check_in(visit.id, at=visit.starts_at)
        crm.visits.complete(visit.id, at=visit.starts_at + timedelta(minutes=30))
        invitation = crm.surveys.invite(survey.id, visit_id=visit.id, at=visit.starts_at + timedelta(hours=1))
        crm.surveys.submit(invitation.token, {"nps": 3}, at=visit.starts_at + timedelta(hours=2))
    return clinic.id, patient.id, survey.id


def load() -> str:
    """The machine's load averages (1, 5, 15 min), printed beside the ratios (a shared machine moves them)."""
    return "load " + " ".join(f"{value:.2f}" for value in os.getloadavg())


def best_of(runs: int, calls: int, fn: Callable[[], object]) -> float:
    """Best mean seconds per call over ``runs`` runs of ``calls`` calls."""
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        for _ in range(calls):
            fn()
        best = min(best, (time.perf_counter() - started) / calls)
    return best


def interleaved(rounds: int, calls: int, *sides: Callable[[], object]) -> list[float]:
    """Seconds per call of each side, alternating sides within each round; best round of each kept."""
    best = [float("inf")] * len(sides)
    for _ in range(rounds):
        for i, side in enumerate(sides):
            best[i] = min(best[i], best_of(1, calls, side))
    return best


@contextmanager
def captured(crm: ClinicCRM, needle: str) -> Iterator[list[tuple[str, Any]]]:
    """The statements (and parameters) the library sends that contain ``needle``."""
    seen: list[tuple[str, Any]] = []

    def hook(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if needle in statement:
            seen.append((statement, parameters))

    event.listen(crm.engine, "before_cursor_execute", hook)
    try:
        yield seen
    finally:
        event.remove(crm.engine, "before_cursor_execute", hook)


def explain(crm: ClinicCRM, statement: str, parameters: Any) -> str:
    """The plan of ``statement`` as the database would run it now."""
    with crm.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        cursor = raw.cursor()
        if crm.engine.dialect.name == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            return "\n".join(f"    {row[-1]}" for row in cursor.fetchall())
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
        return "\n".join(f"    {row[0]}" for row in cursor.fetchall())


@contextmanager
def audit_off() -> Iterator[None]:
    saved = patients_svc.record_audit
    patients_svc.record_audit = lambda *args, **kwargs: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        patients_svc.record_audit = saved


def raw_reader(crm: ClinicCRM, sql: str, params: tuple[Any, ...]) -> tuple[Callable[[], object], Callable[[], None]]:
    """A raw-driver call running ``sql`` (``?`` markers) and fetching every row, and a closer."""
    conn = crm.engine.raw_connection()
    if crm.engine.dialect.name == "postgresql":
        sql = sql.replace("?", "%s")
    cursor = conn.cursor()

    def call() -> object:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        conn.commit()
        return rows

    return call, conn.close


def bench(url: str, rows: int, rounds: int) -> None:
    """Seed ``url`` and print every figure for it."""
    name = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    with ClinicCRM(url, actor="bench") as crm:
        crm.migrate()
        started = time.perf_counter()
        clinic_id, patient_id, _survey = seed(crm, rows, url)
        print(f"\n== {name}, {rows:,} patients (seeded in {time.perf_counter() - started:.1f} s)")

        # three characters or more: trigrams; one or two: the short-gram index (revision 0014)
        for query in ("歐陽小", "amy wang", "小明", "陽", "xu", "x"):
            with captured(crm, "FROM patient") as seen:
                found = crm.patients.find(clinic_id, name=query)
            statement, parameters = next(s for s in seen if "lower" in s[0])
            per_call = best_of(rounds, 5, lambda q=query: crm.patients.find(clinic_id, name=q))  # type: ignore[misc]
            print(f"find(name={query!r}): {len(found)} found, {per_call * 1000:.2f} ms per call")
            print(explain(crm, statement, parameters))

        history_raw, close_h = raw_reader(
            crm,
            # every column of a Visit (the library hands back whole instances)
            "SELECT id, clinic_id, patient_id, starts_at, kind, practitioner, status, checked_in_at, care_started_at, "
            "completed_at, cancelled_at, cancel_reason, no_show_at, created_at FROM visit WHERE patient_id = ? "
            "ORDER BY starts_at DESC, id DESC",
            (patient_id,),
        )
        follow_raw, close_f = raw_reader(
            crm,
            "SELECT id, clinic_id, response_id, visit_id, patient_id, reason, opened_at, due_at, closed_at, note "
            "FROM follow_up WHERE clinic_id = ? AND closed_at IS NULL AND due_at < ? ORDER BY due_at, id",
            (clinic_id, T0.replace(tzinfo=None).isoformat(" ") if name == "SQLite" else T0),
        )
        assert len(history_raw()) == 50 and len(follow_raw()) == 200
        assert len(crm.visits.history(patient_id)) == 50
        assert len(crm.surveys.follow_ups(clinic_id, overdue=True, now=T0)) == 200
        lib_h, raw_h = interleaved(rounds, 20, lambda: crm.visits.history(patient_id), history_raw)
        lib_f, raw_f = interleaved(
            rounds, 20, lambda: crm.surveys.follow_ups(clinic_id, overdue=True, now=T0), follow_raw
        )
        close_h()
        close_f()
        for label, lib, raw in (("visits.history 50", lib_h, raw_h), ("follow_ups(overdue) 200", lib_f, raw_f)):
            print(f"{label}: {lib * 1e3:.2f} ms vs raw {raw * 1e3:.2f} ms = {lib / raw:.2f}x ({load()})")

        def get() -> object:
            return crm.patients.get(patient_id)

        def find() -> object:
            return crm.patients.find(clinic_id, name="歐陽小明")

        with_get = with_find = without_get = without_find = float("inf")
        for _ in range(rounds):
            with_get = min(with_get, best_of(1, 50, get))
            with_find = min(with_find, best_of(1, 20, find))
            with audit_off():
                without_get = min(without_get, best_of(1, 50, get))
                without_find = min(without_find, best_of(1, 20, find))
        for label, on, off in (("get", with_get, without_get), ("find", with_find, without_find)):
            print(f"audit overhead of {label}: {on * 1e3:.2f} vs {off * 1e3:.2f} ms (+{(on - off) * 1e3:.2f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="patients (default 100,000)")
    parser.add_argument("--quick", action="store_true", help="10,000 patients")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (best kept)")
    parser.add_argument("--sqlite", action="store_true", help="SQLite only")
    parser.add_argument("--pg", action="store_true", help="PostgreSQL only")
    args = parser.parse_args()
    rows = 10_000 if args.quick else args.rows
    print(f"{os.cpu_count()} CPUs, {load()}; figures are best-of, library and raw interleaved")
    if not args.pg:
        with tempfile.TemporaryDirectory() as tmp:
            bench(f"sqlite:///{Path(tmp) / 'reads.db'}", rows, args.rounds)
    if not args.sqlite:
        with throwaway_postgres(PG_URL, prefix="clinic_crm_bench_reads") as url:
            bench(url, rows, args.rounds)


if __name__ == "__main__":
    main()
