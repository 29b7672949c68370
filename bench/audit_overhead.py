"""Benchmark: what the audit trail costs ``get``, ``find`` and ``import_csv`` (with vs without auditing).

"Without" replaces ``record_audit`` in the patient and import services by a no-op for the timed calls; every
other step is the same.  Runs alternate (with, without, with, …) and the best of each is kept, so a busy
machine disturbs both sides alike.  Printed: µs per call (get, find returning 10 patients) and seconds per
import of ``--rows`` CSV rows, with the overhead.  For the import's ratio against the raw-driver baseline
run ``bench/import_patients.py`` (auditing is always on there).

    python bench/audit_overhead.py                 # SQLite, 2,000 calls, 20,000-row import
    python bench/audit_overhead.py --pg --rows 100000
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from clinic_crm import ClinicCRM
from clinic_crm.services import imports, patients
from clinic_crm.testing import throwaway_postgres

sys.path.insert(0, str(Path(__file__).parent))
from import_patients import make_csv  # noqa: E402

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


@contextmanager
def auditing(enabled: bool) -> Iterator[None]:
    """Run the block with the patient and import services' ``record_audit`` on, or replaced by a no-op."""
    saved = (patients.record_audit, imports.record_audit)
    if not enabled:
        patients.record_audit = imports.record_audit = lambda *args, **kwargs: 0  # type: ignore[assignment]
    try:
        yield
    finally:
        patients.record_audit, imports.record_audit = saved


def _best(runs: int, work: Callable[[], Any], enabled: bool) -> float:
    best = float("inf")
    for _ in range(runs):
        with auditing(enabled):
            started = time.perf_counter()
            work()
            best = min(best, time.perf_counter() - started)
    return best


def bench(url: str, calls: int, rows: int, csv_path: Path) -> None:
    """Time get/find and import_csv with and without auditing on ``url``."""
    with ClinicCRM(url, actor="bench") as crm:
        crm.migrate()
        clinic = crm.clinics.create("Bench", timezone="Asia/Taipei", locale="zh_TW", region="TW")
        assert clinic.id is not None
        clinic_id = clinic.id
        ids = [
            crm.patients.register(clinic_id, family_name="王", given_name=f"小明{n}", phone="0912-345-678").id
            for n in range(10)
        ]
        pid = ids[0]
        assert pid is not None
        for side in (True, False):  # warm both paths
            with auditing(side):
                crm.patients.get(pid)
                crm.patients.find(clinic_id, phone="0912345678")
        best = {("get", True): 1e9, ("get", False): 1e9, ("find", True): 1e9, ("find", False): 1e9}
        for _round in range(5):
            for side in (True, False):
                timed_get = _best(1, lambda: [crm.patients.get(pid) for _ in range(calls // 5)], side)
                timed_find = _best(
                    1, lambda: [crm.patients.find(clinic_id, phone="0912345678") for _ in range(calls // 25)], side
                )  # noqa: E501
                best["get", side] = min(best["get", side], timed_get / (calls // 5))
                best["find", side] = min(best["find", side], timed_find / (calls // 25))
        for name in ("get", "find"):
            on, off = best[name, True] * 1e6, best[name, False] * 1e6
            print(f"{crm.engine.dialect.name:<10} {name:<5} with audit {on:8.0f} us | without {off:8.0f} us | "
                  f"overhead {on - off:6.0f} us ({on / off:.2f}x)")  # fmt: skip
        times = {True: float("inf"), False: float("inf")}
        for n in range(4):  # alternating sides; each run imports into a new clinic (all rows are new)
            side = n % 2 == 0
            clinic = crm.clinics.create(f"Import {n}", timezone="Asia/Taipei", locale="zh_TW", region="TW")
            assert clinic.id is not None
            times[side] = min(times[side], _best(1, partial(crm.patients.import_csv, clinic.id, csv_path), side))
        on, off = times[True], times[False]
        print(f"{crm.engine.dialect.name:<10} import_csv {rows:,} rows: with audit {on:.2f} s | without {off:.2f} s"
              f" | {on / off:.2f}x")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description="audit trail overhead on get, find and import_csv")
    parser.add_argument("--calls", type=int, default=2000, help="get calls timed per side (find: a fifth)")
    parser.add_argument("--rows", type=int, default=20_000, help="CSV rows imported per side")
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server URL (throwaway databases are made)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as directory:
        base = Path(directory)
        csv_path = base / "patients.csv"
        make_csv(csv_path, args.rows)
        bench(f"sqlite:///{base / 'bench.db'}", args.calls, args.rows, csv_path)
        if args.pg:
            with throwaway_postgres(args.pg_url, prefix="clinic_crm_bench") as url:
                bench(url, args.calls, args.rows, csv_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
