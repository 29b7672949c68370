"""A transaction runner for claim loops (reminder dispatch, post publishing): one short transaction per step.

A claim loop commits every step at once (the claim, each outcome), so it cannot use the facade's
one-call-one-transaction unit.  :class:`Runner` gives it two ways to run a step:

* :meth:`Runner.run` — ``work(cursor, *args)`` on the raw DB-API cursor of one pooled connection kept for
  the whole loop, with the transaction controlled on the DB-API connection itself (SQLite: the same
  ``BEGIN IMMEDIATE`` as :mod:`clinic_crm.db`'s engines).  SQLAlchemy's per-transaction and per-statement
  bookkeeping would cost more than the statements of the dispatch hot path (see :mod:`.prepared`).
* :meth:`Runner.transaction` — a ``Session`` of the loop's factory in a transaction of its own, for steps
  written with Core statements, and for recording an outcome on a fresh connection after a step failed.

Every step runs under ``guard`` (the facade's lock of an in-memory SQLite database).  A driver error on the
raw cursor is raised as SQLAlchemy's wrapped ``DBAPIError`` (no SQL, no parameters), so
:func:`clinic_crm.db.database_errors` turns it into ``DatabaseUnavailable`` like any other call's; a
connection the server dropped is invalidated, never handed back to the pool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from clinic_crm.db import driver_error
from clinic_crm.errors import ValidationError

__all__ = ["Guard", "Runner", "session_transaction"]

#: A lock taken around every transaction (``nullcontext`` when the database needs none).
Guard = Callable[[], AbstractContextManager[object]]

T = TypeVar("T")


@contextmanager
def session_transaction(factory: sessionmaker[Session], guard: Guard = nullcontext) -> Iterator[Session]:
    """A session of ``factory`` in one transaction under ``guard``: committed on exit, rolled back on error."""
    with guard(), factory() as session, session.begin():
        yield session


class Runner:
    """One DB-API connection for a claim loop, with one short transaction per step.

    Use as a context manager: the connection is checked out on entry and returned on exit.  When the
    factory is bound to something other than an ``Engine`` (a ``Connection``), each :meth:`run` gets a session
    transaction of the factory instead.

    Attributes:
        factory: the session factory the loop was given.
        guard: the lock around every transaction.
        dialect: the database's dialect.
    """

    def __init__(self, factory: sessionmaker[Session], guard: Guard = nullcontext) -> None:
        bind = factory.kw.get("bind")
        if bind is None:
            raise ValidationError("the session factory must be bound to an engine", field="factory")
        self.factory = factory
        self.guard = guard
        self.dialect: Dialect = bind.dialect
        self._engine = bind if isinstance(bind, Engine) else None
        self._conn: Connection | None = None
        self._raw: Any = None
        self._cursor: Any = None
        self._locked = guard is not nullcontext
        self._begin = "BEGIN IMMEDIATE" if self.dialect.name == "sqlite" else None

    def __enter__(self) -> Runner:
        if self._engine is not None:
            with self.guard():  # an in-memory database shares one connection: check it out and in under the lock
                self._conn = self._engine.connect()
            self._raw = self._conn.connection.driver_connection
            self._cursor = self._raw.cursor()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            with self.guard():
                self._conn.close()
            self._conn = self._raw = self._cursor = None

    def transaction(self) -> AbstractContextManager[Session]:
        """A session in a transaction of its own (a pooled connection of the factory, not the loop's)."""
        return session_transaction(self.factory, self.guard)

    def run(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        """Run ``work(cursor, *args)`` in one transaction and commit it; roll back and re-raise on any error.

        ``write=False``: a read (SQLite: no write lock is taken).

        Raises:
            sqlalchemy.exc.DBAPIError: the driver failed (wrapped, without SQL or parameters).
        """
        raw = self._raw
        if raw is None:
            with self.transaction() as session:
                driver = session.connection().connection.driver_connection
                assert driver is not None
                return self._wrapped(work, driver.cursor(), args)
        if self._locked:
            with self.guard():
                return self._run(raw, work, args, write)
        return self._run(raw, work, args, write)

    def _run(self, raw: Any, work: Callable[..., T], args: tuple[Any, ...], write: bool) -> T:
        cursor = self._cursor
        try:
            if write and self._begin is not None:
                cursor.execute(self._begin)
            result = work(cursor, *args)
            raw.commit()
        except BaseException as exc:
            dropped = self._rollback(raw, cursor, exc)
            if isinstance(exc, self.dialect.loaded_dbapi.Error):
                raise self._wrap(exc, dropped) from exc
            raise
        return result

    def _rollback(self, raw: Any, cursor: Any, exc: BaseException) -> bool:
        """Roll back after ``exc``; invalidate the connection when it is broken.  Whether it was."""
        dropped = isinstance(exc, self.dialect.loaded_dbapi.Error) and self.dialect.is_disconnect(exc, raw, cursor)
        if not dropped:
            try:
                raw.rollback()
            except self.dialect.loaded_dbapi.Error:
                dropped = True  # a connection that cannot roll back is of no further use; the first error is raised
        if dropped and self._conn is not None:
            with self.guard():
                self._conn.invalidate()
                self._conn.close()
            self._conn = self._raw = self._cursor = None
        return dropped

    def _wrapped(self, work: Callable[..., T], cursor: Any, args: tuple[Any, ...]) -> T:
        try:
            return work(cursor, *args)
        except self.dialect.loaded_dbapi.Error as exc:
            raise self._wrap(exc, False) from exc

    def _wrap(self, exc: Exception, dropped: bool) -> BaseException:
        """The driver's error as SQLAlchemy wraps it (``OperationalError`` …), without SQL or parameters."""
        return driver_error(self.dialect, exc, dropped=dropped)
