"""Driver-level bulk writes: ``COPY`` on PostgreSQL (psycopg 3), one ``executemany`` elsewhere.

SQLAlchemy's per-row parameter processing costs more than the insert itself when a bulk import
writes tens of thousands of rows, so :class:`BulkInsert` hands the rows to the driver directly.
The SQL is compiled by SQLAlchemy for the connection's dialect and every value goes through the
column type's own bind processor, so what is stored is exactly what an ORM insert would store.
:func:`copy_rows` and :func:`select_in` are the two other driver-level paths the import uses
(``COPY`` of prepared tuples; a look-up by many keys).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Date, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError

__all__ = ["BulkInsert", "copy_rows", "select_in", "uses_copy", "integrity_errors"]

_LOOKUP_SLICE = 2000  # keys per SELECT … IN (…), well below every driver's parameter limit

#: Dates on which a fast date processor must agree with the dialect's own (every width of year, leap day).
_DATE_SAMPLES = (date(1, 1, 1), date(999, 12, 31), date(1880, 1, 1), date(2024, 2, 29), date(9999, 12, 31))


def uses_copy(dialect: Dialect) -> bool:
    """Whether bulk writes on ``dialect`` go through ``COPY`` (PostgreSQL with psycopg 3)."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def integrity_errors(dialect: Dialect) -> tuple[type[Exception], ...]:
    """The exceptions a unique violation raises here: SQLAlchemy's, and the driver's (``COPY`` runs unwrapped)."""
    return (IntegrityError, getattr(dialect.dbapi, "IntegrityError", IntegrityError))


def copy_rows(
    connection: Connection,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    types: Sequence[str] | None = None,
) -> None:
    """``COPY table (columns) FROM STDIN`` of ``rows`` (tuples in ``columns`` order) on psycopg 3.

    With ``types`` (PostgreSQL type names, one per column) the rows travel in the binary format, each value
    dumped by psycopg's C dumper for that type (no text escaping); the values must then be of those types
    (aware ``datetime`` for ``timestamptz``).
    """
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    binary = " (FORMAT BINARY)" if types is not None else ""
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN{binary}") as copy:
        if types is not None:
            copy.set_types(list(types))
        for row in rows:
            copy.write_row(row)


def select_in(connection: Connection, sql: str, fixed: Sequence[Any], keys: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` for many ``keys``: one array parameter on PostgreSQL, ``IN (…)`` slices elsewhere.

    ``sql`` ends with the key column (``"SELECT external_id, id FROM patient WHERE clinic_id = {} AND
    external_id"``); ``{}`` marks each of the ``fixed`` parameters and is replaced by the driver's marker.
    """
    dialect = connection.dialect
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    text = sql.format(*([mark] * len(fixed)))
    found: list[tuple[Any, ...]] = []
    if uses_copy(dialect):
        # never a prepared statement: psycopg prepares a statement run 5 times, and PostgreSQL's generic plan,
        # made while the table was small, would scan the whole (growing) table on every chunk
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.execute(f"{text} = ANY({mark})", (*fixed, list(keys)), prepare=False)  # type: ignore[call-arg]
        found.extend(cursor.fetchall())
        return found
    for start in range(0, len(keys), _LOOKUP_SLICE):
        part = keys[start : start + _LOOKUP_SLICE]
        marks = ", ".join([mark] * len(part))
        found.extend(connection.exec_driver_sql(f"{text} IN ({marks})", (*fixed, *part)).all())
    return found


def _fast_date_processor(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """``date.isoformat`` (C) where it gives exactly what the dialect's date bind processor gives, else the latter.

    SQLite's ``DATE`` processor formats ``%(year)04d-%(month)02d-%(day)02d`` in Python,
    which is ``date.isoformat()``; a dialect storing dates another way keeps its own processor.
    """
    if all(processor(day) == day.isoformat() for day in _DATE_SAMPLES):
        return date.isoformat
    return processor


class BulkInsert:
    """Inserts dicts of one table's ``columns`` at driver level: ``COPY`` on psycopg 3, else one ``executemany``.

    ``constants`` are columns whose value is the same on every row of the insert (a time stamp):
    their bind processor runs once, here.
    """

    def __init__(self, connection: Connection, table: Table, columns: Sequence[str], constants: Mapping[str, Any]):
        dialect = connection.dialect
        compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
        self.table = table.name
        self.sql = str(compiled)
        self.positional = bool(compiled.positional)
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ()) if self.positional else tuple(columns)
        self.copy = uses_copy(dialect)
        if self.copy:
            self.order = tuple(columns)
        processors = {name: table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns}
        #: the constants, processed
        self.constants: dict[str, Any] = {}
        for name, value in constants.items():
            processor = processors.pop(name)
            self.constants[name] = value if processor is None or value is None else processor(value)
        self.processors = [
            (name, _fast_date_processor(processor) if isinstance(table.c[name].type, Date) else processor)
            for name, processor in processors.items()
            if processor is not None
        ]

    def __call__(self, connection: Connection, records: list[dict[str, Any]]) -> None:
        """Insert ``records`` (dicts with every column; their values are processed in place)."""
        for name, processor in self.processors:
            for record in records:
                value = record[name]
                if value is not None:
                    record[name] = processor(value)
        if self.copy:  # PostgreSQL: COPY is about twice as fast as a multi-row INSERT
            copy_rows(connection, self.table, self.order, map(itemgetter(*self.order), records))
            return
        params: list[Any] = records
        if self.positional:
            params = list(map(itemgetter(*self.order), records))
        connection.exec_driver_sql(self.sql, params)
