"""The ``clinic-crm`` command line: a thin shell over :class:`clinic_crm.ClinicCRM`.

Each sub-command lives in its own module with a ``register(subparsers)`` function
that adds its parser and sets ``handler`` — ``handler(args) -> int`` (the exit code).

Exit codes (the same for every command, documented in ``docs/cli.md``):

====  =====================================================================================
0     done
1     partial: some rows were rejected, some deliveries or publications failed, a check
      found something (breached cases, open alerts, overdue incidents, a broken audit chain)
2     bad usage or input (a typed ``ClinicCRMError``: unknown id, malformed value …)
3     environment: the database is missing, not migrated or unreachable; an optional
      extra (psycopg, pandas, matplotlib, tqdm, fhir.resources) is not installed
====  =====================================================================================
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from clinic_crm.errors import ClinicCRMError, DatabaseUnavailable

__all__ = [
    "main",
    "build_parser",
    "open_crm",
    "add_db_option",
    "add_csv_option",
    "verbose_logging",
    "DEFAULT_DB",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_USAGE",
    "EXIT_ENVIRONMENT",
]

if TYPE_CHECKING:
    from clinic_crm.crm import ClinicCRM

__all__ = ["DEFAULT_DB", "CREATES_DATABASE", "COMMAND_MODULES", "add_db_option", "build_parser", "open_crm", "main"]

DEFAULT_DB = "sqlite:///clinic.db"

log = logging.getLogger("clinic_crm.cli")

EXIT_OK, EXIT_PARTIAL, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 1, 2, 3

#: Commands that may create a new SQLite file; every other command refuses a file that does not exist.
CREATES_DATABASE = frozenset({"migrate", "demo"})

#: Sub-command modules, in the order ``--help`` lists them.
COMMAND_MODULES = (
    "migrate",
    "clinics",
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


def add_csv_option(parser: argparse.ArgumentParser) -> None:
    """The ``--csv FILE`` option of the report commands (written by :func:`clinic_crm.reporting.write_csv`)."""
    parser.add_argument(
        "--csv",
        default=None,
        metavar="FILE",
        help="also write the table to FILE as CSV for a spreadsheet (UTF-8; formula-like cells neutralised)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser with every available sub-command."""
    from clinic_crm import __version__

    parser = argparse.ArgumentParser(
        prog="clinic-crm",
        description="clinic_crm command line: patients, reminders, surveys, feedback, crisis readiness.",
        epilog="exit codes: 0 done, 1 partial (rejected rows, failed deliveries, findings), 2 bad usage or input, "
        "3 environment (database missing, unmigrated or unreachable; optional extra missing)",
    )
    parser.add_argument("--version", action="version", version=f"clinic-crm {__version__}")
    _add_verbose(parser, default=0)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"clinic_crm.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"clinic_crm.cli.{name}":
                continue  # not built yet
            raise
        module.register(subparsers)
    for sub in _sub_parsers(parser):
        _add_verbose(sub, default=argparse.SUPPRESS)
    return parser


def _add_verbose(parser: argparse.ArgumentParser, *, default: object) -> None:
    """``-v``/``-vv`` (INFO/DEBUG logging to stderr); sub-commands keep the top level's count unless given."""
    if any("-v" in action.option_strings for action in parser._actions):
        return
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="log to stderr: -v progress (INFO), -vv details and SQL statements (DEBUG); never patient data",
    )


def _sub_parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """Every parser below ``parser`` (sub-commands and their actions), depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in dict.fromkeys(action.choices.values()):
                yield child
                yield from _sub_parsers(child)


#: Where ``-v`` sends log records: the library's loggers, and at ``-vv`` SQLAlchemy's engine (statements only:
#: parameters are never echoed and result rows are filtered out in :mod:`clinic_crm.db`).
VERBOSE_LOGGERS = {1: ("clinic_crm",), 2: ("clinic_crm", "sqlalchemy.engine")}


@contextmanager
def verbose_logging(level: int) -> Iterator[None]:
    """Log the library (and at 2, the SQL engine) to stderr for the duration; 0 logs nothing."""
    if level <= 0:
        yield
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    threshold = logging.INFO if level == 1 else logging.DEBUG
    loggers = [logging.getLogger(name) for name in VERBOSE_LOGGERS[min(level, 2)]]
    previous = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(threshold)
    try:
        yield
    finally:
        for logger, old in zip(loggers, previous, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(old)


def _missing_sqlite_file(url: str) -> str | None:
    """The path of the SQLite database file ``url`` names when that file does not exist (else ``None``)."""
    try:
        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - a malformed URL is reported by ClinicCRM itself
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    return None if os.path.exists(database) else database


def open_crm(args: argparse.Namespace) -> ClinicCRM:
    """The facade on ``--db`` (acting as ``--actor`` when the command has one); only ``migrate`` and ``demo`` may
    create a new SQLite file.

    Raises:
        DatabaseUnavailable: ``--db`` names a SQLite file that does not exist (exit code 3, with the fix).
    """
    from clinic_crm.crm import ClinicCRM

    missing = None if args.command in CREATES_DATABASE else _missing_sqlite_file(args.db)
    if missing is not None:
        raise DatabaseUnavailable(
            f"no database at {missing}; create it with: clinic-crm migrate --db {args.db}", retryable=False
        )
    actor = getattr(args, "actor", None)
    return ClinicCRM(args.db) if actor is None else ClinicCRM(args.db, actor=actor)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (errors are printed without patient data)."""
    args = build_parser().parse_args(argv)
    name = " ".join(str(part) for part in (args.command, getattr(args, "action", None)) if part)
    try:
        with verbose_logging(int(getattr(args, "verbose", 0) or 0)):
            started = time.monotonic()
            log.info("clinic-crm %s: started", name)
            code = int(args.handler(args))
            log.info("clinic-crm %s: exit %d after %.2f s", name, code, time.monotonic() - started)
            return code
    except DatabaseUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ENVIRONMENT
    except ClinicCRMError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModuleNotFoundError as exc:
        extra = {"psycopg": "postgres", "pandas": "analysis", "matplotlib": "analysis", "tqdm": "cli"}.get(
            (exc.name or "").split(".")[0], None
        )
        if extra is None and not (exc.name or "").startswith("fhir"):
            raise
        hint = f'pip install "clinic-crm[{extra or "fhir"}]"'
        print(f"error: the optional package {exc.name} is not installed; {hint}", file=sys.stderr)
        return EXIT_ENVIRONMENT


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
