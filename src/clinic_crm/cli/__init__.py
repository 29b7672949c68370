"""The ``clinic-crm`` command line: a thin shell over :class:`clinic_crm.ClinicCRM`.

Each sub-command lives in its own module with a ``register(subparsers)`` function
that adds its parser and sets ``handler`` — ``handler(args) -> int`` (the exit code).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from clinic_crm.errors import ClinicCRMError

DEFAULT_DB = "sqlite:///clinic.db"

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "migrate",
    "demo",
    "imports",
    "reminders",
    "report",
    "feedback",
    "incident",
    "crisis",
    "posts",
    "reputation",
    "events",
    "patients",
    "audit",
)


def add_db_option(parser: argparse.ArgumentParser) -> None:
    """The ``--db URL`` option every command shares (env ``CLINIC_CRM_DB``, default ``sqlite:///clinic.db``)."""
    parser.add_argument(
        "--db",
        default=os.environ.get("CLINIC_CRM_DB", DEFAULT_DB),
        help="database URL (default: $CLINIC_CRM_DB or %(default)s)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available sub-command."""
    parser = argparse.ArgumentParser(prog="clinic-crm", description="clinic_crm command line")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"clinic_crm.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"clinic_crm.cli.{name}":
                continue  # not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (errors are printed without patient data)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except ClinicCRMError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
