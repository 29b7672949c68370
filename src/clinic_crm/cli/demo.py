"""``clinic-crm demo``: build a realistic synthetic clinic in a SQLite file and show what it made."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from clinic_crm.cli import EXIT_USAGE
from clinic_crm.crm import ClinicCRM
from clinic_crm.demo import build_demo

__all__ = ["DEMO_DB", "register", "run"]

#: The demo's own database: never the shared default ``clinic.db`` nor ``$CLINIC_CRM_DB``.
DEMO_DB = "sqlite:///clinic-crm-demo/demo.db"


def register(subparsers: Any) -> None:
    """Add the ``demo`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="create a synthetic clinic (patients, a year of visits, reminders, surveys)",
        description="Create a synthetic clinic in its own SQLite file: patients with fictional numbers, a year of "
        "visits, survey answers, recall plans; plan and dispatch reminders into an outbox file beside it.",
    )
    parser.add_argument("--db", default=DEMO_DB, help="the demo's database (default %(default)s)")
    parser.add_argument("--patients", type=int, default=400, help="how many patients (default %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default %(default)s)")
    parser.add_argument(
        "--outbox",
        default=None,
        help="where dispatched demo messages are written (default: outbox.jsonl beside a SQLite database)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Migrate ``--db``, fill it with the demo data and print a summary."""
    url = make_url(args.db)
    folder = Path(url.database).parent if url.get_backend_name() == "sqlite" and url.database else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    outbox = args.outbox or str(folder / "outbox.jsonl")
    with ClinicCRM(args.db) as crm:
        crm.migrate()
        if crm.clinics.list():
            print("error: the database already has clinics; give the demo a new file (--db sqlite:///demo2.db)")
            return EXIT_USAGE
        summary = build_demo(crm, patients=args.patients, seed=args.seed, outbox=outbox)
    print(f"database: {args.db}")
    print(f"outbox: {outbox}")
    print(f"clinics: {len(summary.clinics)} (ids {', '.join(map(str, summary.clinics))})")
    print(f"patients: {summary.patients}")
    visits = ", ".join(f"{status} {count}" for status, count in sorted(summary.visits_by_status.items()))
    print(f"visits: {sum(summary.visits_by_status.values())} ({visits})")
    for key, value in summary.extra.items():
        print(f"{key}: {value}")
    return 0
