"""``clinic-crm demo``: build a realistic synthetic clinic in a SQLite file and show what it made."""

from __future__ import annotations

import argparse
from typing import Any

from clinic_crm.cli import add_db_option
from clinic_crm.crm import ClinicCRM
from clinic_crm.demo import build_demo


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo", help="create a synthetic clinic (patients, a year of visits, reminders, surveys)"
    )
    add_db_option(parser)
    parser.add_argument("--patients", type=int, default=400, help="how many patients (default %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default %(default)s)")
    parser.add_argument(
        "--outbox", default="outbox.jsonl", help="where dispatched demo messages are written (default %(default)s)"
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Migrate ``--db``, fill it with the demo data and print a summary."""
    with ClinicCRM(args.db) as crm:
        crm.migrate()
        if crm.clinics.list():
            print("error: the database already has clinics; give the demo a new file (--db sqlite:///demo2.db)")
            return 2
        summary = build_demo(crm, patients=args.patients, seed=args.seed, outbox=args.outbox)
    print(f"database: {args.db}")
    print(f"clinics: {len(summary.clinics)} (ids {', '.join(map(str, summary.clinics))})")
    print(f"patients: {summary.patients}")
    visits = ", ".join(f"{status} {count}" for status, count in sorted(summary.visits_by_status.items()))
    print(f"visits: {sum(summary.visits_by_status.values())} ({visits})")
    for key, value in summary.extra.items():
        print(f"{key}: {value}")
    return 0
