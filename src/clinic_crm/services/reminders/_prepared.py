"""Core statements compiled once per dialect and run on the DB-API cursor (the dispatch hot path).

SQLAlchemy's per-execution overhead (cache key, parameter processing, result set-up) is several
times the cost of a one-row ``SELECT`` or ``UPDATE`` on SQLite.  A :class:`Prepared` statement keeps
the SQL text SQLAlchemy compiled for the dialect and the bind processors of the column types (so
values are stored exactly as the ORM stores them: ``UTCDateTime`` → naive UTC text on SQLite), and
runs it on the raw cursor of the SQLAlchemy ``Connection`` — inside that connection's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

__all__ = ["Prepared", "prepare"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """One compiled statement: its SQL, the order of its positional parameters, defaults and processors."""

    sql: str
    positional: tuple[str, ...] | None
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]
    #: per positional parameter: (name, default, processor or None)
    plan: tuple[tuple[str, Any, Callable[[Any], Any] | None], ...] = ()

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The DB-API parameters for ``values`` (a tuple for positional paramstyles, else a dict)."""
        if self.positional is not None:
            out = []
            for name, default, process in self.plan:
                value = values.get(name, default)
                out.append(value if process is None else process(value))
            return tuple(out)
        merged = {**self.defaults, **values}
        for name, process in self.processors.items():
            merged[name] = process(merged[name])
        return merged

    def execute(self, conn: Connection, values: Mapping[str, Any]) -> Any:
        """Run the statement in ``conn``'s current transaction; return the DB-API cursor."""
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(self.sql, self.parameters(values))
        return cursor


def prepare(statement: ClauseElement, dialect: Dialect) -> Prepared:
    """Compile ``statement`` for ``dialect`` once."""
    compiled: Any = statement.compile(dialect=dialect)
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    positional = tuple(compiled.positiontup) if compiled.positional else None
    defaults = {name: bind.effective_value for name, bind in compiled.binds.items() if not bind.required}
    plan = tuple((name, defaults.get(name), processors.get(name)) for name in positional or ())
    return Prepared(sql=compiled.string, positional=positional, defaults=defaults, processors=processors, plan=plan)
