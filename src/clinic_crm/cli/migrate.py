"""``clinic-crm migrate``: upgrade the database schema to the newest revision."""

from __future__ import annotations

import argparse
from typing import Any

from clinic_crm.cli import add_db_option
from clinic_crm.crm import ClinicCRM


def register(subparsers: Any) -> None:
    """Add the ``migrate`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser("migrate", help="upgrade the database schema")
    add_db_option(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Migrate ``--db`` to the newest revision."""
    with ClinicCRM(args.db) as crm:
        crm.migrate()
    print("database is at the newest schema revision")
    return 0
