"""``clinic-crm migrate``: upgrade the database schema to the newest revision."""

from __future__ import annotations

import argparse
from typing import Any

from clinic_crm.cli import add_db_option
from clinic_crm.crm import ClinicCRM

__all__ = ["register", "run"]


def register(subparsers: Any) -> None:
    """Add the ``migrate`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "migrate",
        help="upgrade the database schema",
        description="Create the clinic_crm tables, or upgrade them to the newest revision (Alembic upgrade head). "
        "Safe to run again; the only command besides demo that creates a new SQLite file.",
    )
    add_db_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Migrate ``--db`` to the newest revision."""
    with ClinicCRM(args.db) as crm:
        crm.migrate()
    print("database is at the newest schema revision")
    return 0
