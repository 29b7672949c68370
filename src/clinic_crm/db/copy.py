"""Driver-level bulk writes: ``COPY`` on PostgreSQL (psycopg 3), one ``executemany`` elsewhere.

SQLAlchemy's per-row parameter processing costs more than the insert itself when a bulk import
writes tens of thousands of rows, so :class:`BulkInsert` hands the rows to the driver directly.
The SQL is compiled by SQLAlchemy for the connection's dialect and every value goes through the
column type's own bind processor, so what is stored is exactly what an ORM insert would store.
:func:`copy_rows` and :func:`select_in` are the two other driver-level paths the import uses
(``COPY`` of prepared tuples; a look-up by many keys).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Date, Table, insert
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError

__all__ = ["BulkInsert", "copy_rows", "copy_types", "select_in", "key_lookup_sql", "uses_copy", "integrity_errors"]

_TYPE_SIZE = re.compile(r"\(.*\)")  # "VARCHAR(100)" -> "VARCHAR"
_LOOKUP_SLICE = 2000  # keys per SELECT … IN (…), well below every driver's parameter limit

#: Dates on which a fast date processor must agree with the dialect's own (every width of year, leap day).
_DATE_SAMPLES = (date(1, 1, 1), date(999, 12, 31), date(1880, 1, 1), date(2024, 2, 29), date(9999, 12, 31))


def uses_copy(dialect: Dialect) -> bool:
    """Whether bulk writes on ``dialect`` go through ``COPY`` (PostgreSQL with psycopg 3)."""
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def integrity_errors(dialect: Dialect) -> tuple[type[Exception], ...]:
    """The exceptions a unique violation raises here: SQLAlchemy's, and the driver's (``COPY`` runs unwrapped)."""
    return (IntegrityError, getattr(dialect.dbapi, "IntegrityError", IntegrityError))


def copy_types(table: Table, columns: Sequence[str], dialect: Dialect) -> tuple[str, ...]:
    """The PostgreSQL type name of each of ``table``'s ``columns`` (``"integer"``, ``"varchar"``, ``"date"`` …).

    What :func:`copy_rows` needs for the binary format, as the dialect writes the column's DDL (a length dropped).
    """
    return tuple(_TYPE_SIZE.sub("", table.c[name].type.compile(dialect=dialect)).lower() for name in columns)


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


def select_in(
    connection: Connection, table: str, key: str, keys: Sequence[Any], where: Mapping[str, Any]
) -> list[tuple[Any, int]]:
    """``(key, id)`` of the rows of ``table`` whose ``key`` is one of ``keys`` and whose columns match ``where``.

    ``where``'s columns and ``key`` must together be a unique key of ``table`` (each key matches one row at
    most), covered by a unique index.  On PostgreSQL one statement takes all the keys as an array and probes
    that index once per key (:func:`key_lookup_sql`); elsewhere ``IN (…)`` slices of :data:`_LOOKUP_SLICE`.
    """
    dialect = connection.dialect
    fixed = list(where.values())
    if uses_copy(dialect):
        # never a prepared statement: psycopg prepares a statement run 5 times, and a generic plan is not needed
        cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        sql = key_lookup_sql(table, key, list(where))
        cursor.execute(sql, (list(keys), *fixed), prepare=False)  # type: ignore[call-arg]
        return [(found_key, int(found_id)) for found_key, found_id in cursor.fetchall()]
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    conditions = "".join(f"{column} = {mark} AND " for column in where)
    found: list[tuple[Any, int]] = []
    for start in range(0, len(keys), _LOOKUP_SLICE):
        part = keys[start : start + _LOOKUP_SLICE]
        marks = ", ".join([mark] * len(part))
        sql = f"SELECT {key}, id FROM {table} WHERE {conditions}{key} IN ({marks})"
        found.extend(tuple(row) for row in connection.exec_driver_sql(sql, (*fixed, *part)))
    return found


def key_lookup_sql(table: str, key: str, where: Sequence[str]) -> str:
    """PostgreSQL's look-up of many keys (psycopg markers: the keys' array, sent binary, then ``where``'s values).

    One probe per key, written so that only an index on ``(*where, key)`` can answer it cheaply: each probe asks
    for the first row at or after the key *in that index's order* (``ORDER BY … LIMIT 1``), and the outer query
    keeps it only if it is the key itself.  Any other plan (another index, a scan) would have to read and sort
    every row of the ``where`` group for each key, so PostgreSQL chooses the unique index whatever its statistics
    say.  The plain forms did not: ``key = ANY(%s)``, a join with ``unnest``, even a ``LATERAL`` probe by equality
    were planned, on a table an import had just filled and not yet analysed, through the ``(clinic_id,
    updated_at)`` index — reading every row of the clinic once per chunk (``ANY``) or once per key (``LATERAL``),
    a cost that grows with the rows already written: quadratic over a large import.
    """
    order = ", ".join([*where, key])
    conditions = "".join(f"{column} = %s AND " for column in where)
    return (
        f"SELECT wanted.key, found.id FROM unnest(%b::text[]) AS wanted(key) CROSS JOIN LATERAL "
        f"(SELECT id, {key} FROM {table} WHERE {conditions}{key} >= wanted.key "
        f"ORDER BY {order} LIMIT 1) AS found WHERE found.{key} = wanted.key"
    )


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
        self.types: tuple[str, ...] | None = None
        if self.copy:
            self.order = tuple(columns)
            # binary COPY: each value dumped by psycopg's C dumper for its column's type, nothing parsed by the server
            self.types = copy_types(table, self.order, dialect)
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
            copy_rows(connection, self.table, self.order, map(itemgetter(*self.order), records), types=self.types)
            return
        params: list[Any] = records
        if self.positional:
            params = list(map(itemgetter(*self.order), records))
        connection.exec_driver_sql(self.sql, params)
