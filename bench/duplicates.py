"""Benchmark: ``crm.patients.duplicates`` over a clinic of 100,000 patients (SQLite; PostgreSQL with ``--pg``).

Patients are generated like ``bench/import_patients.py`` (75 % CJK, 25 % Latin names, Taiwanese mobiles, birth
dates over 80 years, 70 % with an e-mail) plus planted duplicates: 2 % re-registered with the same birth date
(half written with a space, full-width or upper case), 1 % with the same e-mail and no birth date, and 2 % of
family members sharing a phone (which must never pair).  Loaded with ``import_rows``; then the call is timed
(best of ``--repeat``) and the number of pairs and the planted ones found are printed.

    python bench/duplicates.py              # 100,000 patients, SQLite
    python bench/duplicates.py --rows 20000 --pg
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from clinic_crm import ClinicCRM
from clinic_crm.testing import throwaway_postgres

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
FAMILY_CJK = list("陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周徐蘇葉莊呂江何蕭羅高")
GIVEN_CJK = list("怡君雅婷宜庭家豪志明淑芬美玲俊傑建宏佳穎冠宇承恩欣妤柏翰")
FAMILY_LATIN = ["Wang", "Chen", "Smith", "Tanaka", "Nguyen", "García", "Müller", "O'Brien", "Lee", "Suzuki"]
GIVEN_LATIN = ["Ming", "Amy", "John", "Yuki", "Linh", "José", "Zoë", "Kevin", "Hana", "Chloé"]


def rows(count: int, seed: int = 11) -> tuple[list[dict[str, Any]], int]:
    """``count`` patient rows with planted duplicates; returns the rows and how many duplicates were planted."""
    rnd = random.Random(seed)
    out: list[dict[str, Any]] = []
    planted = 0
    start = date(1940, 1, 1)
    while len(out) < count:
        n = len(out)
        if rnd.random() < 0.75:
            family, given = rnd.choice(FAMILY_CJK), rnd.choice(GIVEN_CJK) + rnd.choice(GIVEN_CJK)
        else:
            family, given = rnd.choice(FAMILY_LATIN), rnd.choice(GIVEN_LATIN)
        row: dict[str, Any] = {
            "family_name": family,
            "given_name": given,
            "phone": f"09{rnd.randrange(10**8):08d}",
            "birth_date": (start + timedelta(days=rnd.randrange(80 * 365))).isoformat(),
        }
        if rnd.random() < 0.7:
            row["email"] = f"p{n}@example.com"
        out.append(row)
        roll = rnd.random()
        if roll < 0.02:  # the same person registered again, the name written differently
            again = dict(row, phone=f"09{rnd.randrange(10**8):08d}")
            again.pop("email", None)
            if family.isascii():
                again["family_name"] = family.upper()
            else:
                again["given_name"] = " ".join(given)
            out.append(again)
            planted += 1
        elif roll < 0.03 and "email" in row:  # again, with the same e-mail and no birth date
            out.append({k: v for k, v in row.items() if k != "birth_date"})
            planted += 1
        elif roll < 0.05:  # a family member on the same phone: never a pair
            child_born = date(2010, 1, 1) + timedelta(days=rnd.randrange(12 * 365))
            child = {"given_name": rnd.choice(GIVEN_CJK) + "兒", "birth_date": child_born.isoformat(), "email": None}
            out.append(row | child)
    return out[:count], planted


def bench(url: str, count: int, repeat: int) -> None:
    """Load ``count`` patients into one clinic at ``url`` and time ``duplicates``."""
    data, planted = rows(count)
    with ClinicCRM(url, actor="bench") as crm:
        crm.migrate()
        clinic = crm.clinics.create("Bench", timezone="Asia/Taipei", locale="zh_TW", region="TW")
        assert clinic.id is not None
        started = time.perf_counter()
        crm.patients.import_rows(clinic.id, data)
        loaded = time.perf_counter() - started
        best = float("inf")
        pairs: list[Any] = []
        for _ in range(repeat):
            started = time.perf_counter()
            pairs = crm.patients.duplicates(clinic.id)
            best = min(best, time.perf_counter() - started)
    scores: dict[float, int] = {}
    for pair in pairs:
        scores[pair.score] = scores.get(pair.score, 0) + 1
    print(
        f"{crm.engine.dialect.name:<10} {count:,} patients (loaded in {loaded:.1f} s): duplicates() {best:.2f} s, "
        f"{len(pairs):,} pairs ({planted:,} planted); by score {dict(sorted(scores.items(), reverse=True))}"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse the options and run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000, help="patients (default 100,000)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--pg", action="store_true", help="also run on PostgreSQL")
    parser.add_argument("--pg-url", default=PG_URL, help="PostgreSQL server URL (a throwaway database is made)")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}")
    with tempfile.TemporaryDirectory() as directory:
        bench(f"sqlite:///{Path(directory) / 'dups.db'}", args.rows, args.repeat)
    if args.pg:
        with throwaway_postgres(args.pg_url, prefix="clinic_crm_bench") as url:
            bench(url, args.rows, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
