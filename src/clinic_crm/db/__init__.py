"""Engine creation for the two supported databases.

* SQLite file: WAL journal, ``busy_timeout``, foreign keys on, and every write
  transaction opened with ``BEGIN IMMEDIATE`` so that concurrent writers queue
  for the write lock instead of failing with "database is locked" half-way.
  A connection carrying the execution option ``clinic_crm_read_only`` (the
  read-only calls of the facade) opens a deferred ``BEGIN`` instead: in WAL mode
  it reads a snapshot and never waits for a writer.
* ``sqlite://`` (memory): one shared connection for every thread.
* PostgreSQL through psycopg 3 (``postgresql+psycopg://``).

Engines never echo statement parameters, which may hold patient data.
"""

from __future__ import annotations

import logging
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.pool import StaticPool

from clinic_crm.errors import DatabaseUnavailable, ValidationError

__all__ = [
    "create_crm_engine",
    "prepare_engine",
    "database_errors",
    "SQLITE_BUSY_TIMEOUT_MS",
    "LOGGING_NAME",
    "READ_ONLY_OPTION",
    "driver_error",
]

#: The ``logging_name`` of every engine clinic_crm creates: its log records go to
#: ``sqlalchemy.engine.Engine.clinic_crm``, where result rows (patient data) are filtered out.
LOGGING_NAME = "clinic_crm"

#: Execution option marking a connection whose transaction only reads (SQLite: a deferred ``BEGIN``).
READ_ONLY_OPTION = "clinic_crm_read_only"


class _NoRows(logging.Filter):
    """Drops SQLAlchemy's DEBUG records of result rows and columns: they carry patient data."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        return not message.startswith(("Row ", "Col "))


logging.getLogger(f"sqlalchemy.engine.Engine.{LOGGING_NAME}").addFilter(_NoRows())

_MIGRATE_HINT = "the database has no clinic_crm tables (or an old schema): run crm.migrate() or `clinic-crm migrate`"


@contextmanager
def database_errors() -> Iterator[None]:
    """Translate the driver's faults into :class:`~clinic_crm.errors.DatabaseUnavailable` (the one place).

    Connection failures, restarts, dropped connections and SQLite's "database is locked" are retryable; a missing
    table means the database was never migrated.  The message never contains SQL or parameters.
    """
    try:
        yield
    except (sa_exc.OperationalError, sa_exc.ProgrammingError, sa_exc.InterfaceError) as exc:
        text = str(getattr(exc, "orig", exc)).lower()
        if "no such table" in text or "does not exist" in text and "relation" in text:
            raise DatabaseUnavailable(_MIGRATE_HINT, retryable=False) from None
        if isinstance(exc, sa_exc.ProgrammingError):
            raise
        reason = "locked by another writer" if "locked" in text or "busy" in text else "unreachable or restarting"
        raise DatabaseUnavailable(f"the database is {reason}; try again later", retryable=True) from None
    except sqlite3.OperationalError as exc:  # raw DB-API paths (dispatch's prepared statements)
        text = str(exc).lower()
        if "no such table" in text:
            raise DatabaseUnavailable(_MIGRATE_HINT, retryable=False) from None
        raise DatabaseUnavailable("the database is locked by another writer; try again later") from None


def driver_error(dialect: Dialect, exc: Exception, *, dropped: bool) -> sa_exc.StatementError:
    """A DB-API error raised on a raw cursor, wrapped as SQLAlchemy wraps it (``OperationalError`` …).

    Without SQL or parameters, so :func:`database_errors` translates it like any other call's; ``dropped``: the
    connection was invalidated.
    """
    return sa_exc.DBAPIError.instance(
        None,
        None,
        exc,
        dialect.loaded_dbapi.Error,
        hide_parameters=True,
        connection_invalidated=dropped,
        dialect=dialect,
    )


SQLITE_BUSY_TIMEOUT_MS = 60_000

_configured: weakref.WeakSet[Engine] = weakref.WeakSet()


def _configure_sqlite(engine: Engine, *, file_backed: bool) -> None:
    """Pragmas on every new connection; explicit BEGIN IMMEDIATE instead of pysqlite's implicit BEGIN."""
    if engine in _configured:
        return
    _configured.add(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # take transaction control away from pysqlite so SAVEPOINT and BEGIN IMMEDIATE work
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if file_backed:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        read_only = conn.get_execution_options().get(READ_ONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_crm_engine(url: str) -> Engine:
    """Create an engine for a database URL with the settings clinic_crm relies on.

    Args:
        url: ``sqlite:///path.db``, ``sqlite://`` (memory) or
            ``postgresql+psycopg://user@host/db`` (``postgresql://`` is read as psycopg 3).

    Raises:
        ValidationError: the URL names a database clinic_crm does not support.
    """
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError
        raise ValidationError("database URL could not be parsed", field="url") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            engine = create_engine(
                parsed,
                poolclass=StaticPool,
                connect_args={"check_same_thread": False},
                hide_parameters=True,
                logging_name=LOGGING_NAME,
            )
            _configure_sqlite(engine, file_backed=False)
        else:
            engine = create_engine(
                parsed,
                connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
                hide_parameters=True,
                logging_name=LOGGING_NAME,
            )
            _configure_sqlite(engine, file_backed=True)
        return engine
    if backend == "postgresql":
        if parsed.get_driver_name() in ("psycopg2", "") or parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        # the session time zone is pinned to UTC: instants read back identically whatever the server's setting
        return create_engine(
            parsed,
            hide_parameters=True,
            pool_pre_ping=True,
            logging_name=LOGGING_NAME,
            connect_args={"options": "-c timezone=UTC"},
        )
    raise ValidationError("database URL must be sqlite:// or postgresql+psycopg://", field="url")


def prepare_engine(engine: Engine) -> Engine:
    """Apply clinic_crm's SQLite settings to an engine the host application created (idempotent).

    Connections the engine already pooled keep their old settings; pass a fresh engine.
    """
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        _configure_sqlite(engine, file_backed=bool(database) and database != ":memory:")
    return engine
