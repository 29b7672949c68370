"""Core statements compiled once per dialect and run on a DB-API cursor (driver-level fast path of dispatch).

SQLAlchemy's per-execution overhead (cache key, parameter processing, result set-up) is several
times the cost of a one-row ``SELECT`` or ``UPDATE`` on SQLite.  A :class:`Prepared` statement keeps
the SQL text SQLAlchemy compiled for the dialect, the order of its parameters and the processors of
its bind and result column types, and runs on a raw DB-API cursor inside whatever transaction that
cursor's connection has open.

Two ways to pass parameters:

* :meth:`Prepared.args` — the hot path: the values of ``names`` in that order, already in the
  driver's form (see :func:`instant_binder` for datetimes); no per-value processing.
* :meth:`Prepared.parameters` — a mapping by bind name, run through the column types' bind
  processors exactly as SQLAlchemy would (``UTCDateTime`` → naive UTC text on SQLite).

:meth:`Prepared.rows` applies the result processors of the selected columns (``UTCDateTime`` → aware
UTC, ``JSON`` → Python objects, ``Time`` → ``datetime.time``) to what the driver returned.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any, cast
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement

from clinic_crm.errors import NaiveDatetimeError
from clinic_crm.models._base import UTCDateTime

__all__ = ["Prepared", "prepare", "instant_binder"]


@dataclass(frozen=True, slots=True)
class Prepared:
    """One compiled statement: its SQL, how to lay out its parameters, and its type processors.

    Attributes:
        sql: the SQL text in the driver's paramstyle.
        names: the order in which :meth:`args` takes its values.
        positional: the bind names in placeholder order (positional paramstyles), else ``None``.
        defaults: the values of the binds the caller does not pass (literals in the statement), processed.
        processors: bind processors by bind name (used by :meth:`parameters` only).
        plan: per placeholder, the index into the caller's tuple or ``-1`` with the default beside it.
        identity: :meth:`args` may hand the caller's tuple to the driver as it is.
        results: per result column, its result processor or ``None``.
        constants: the defaults of the placeholders the caller does not pass, in placeholder order.
        pick: positional: picks the driver's tuple out of ``values + constants``.
    """

    sql: str
    names: tuple[str, ...]
    positional: tuple[str, ...] | None
    defaults: dict[str, Any]
    processors: dict[str, Callable[[Any], Any]]
    plan: tuple[tuple[int, Any], ...]
    identity: bool
    results: tuple[Callable[[Any], Any] | None, ...]
    constants: tuple[Any, ...] = ()
    pick: Callable[[tuple[Any, ...]], Any] | None = None

    def args(self, values: tuple[Any, ...]) -> Any:
        """The driver parameters for ``values`` (given in the order of :attr:`names`, already in driver form)."""
        if self.identity:
            return values
        if self.pick is not None:
            return self.pick(values + self.constants)
        merged = dict(self.defaults)
        merged.update(zip(self.names, values, strict=True))
        return merged

    def parameters(self, values: Mapping[str, Any]) -> Any:
        """The driver parameters for ``values`` by bind name, run through the bind processors."""
        merged = {**self.defaults, **{name: values[name] for name in values}}
        for name, process in self.processors.items():
            if name in values:
                merged[name] = process(merged[name])
        if self.positional is not None:
            return tuple(merged[name] for name in self.positional)
        return merged

    def execute(self, cursor: Any, values: tuple[Any, ...]) -> Any:
        """Run the statement on ``cursor`` with :meth:`args` ``(values)``; return the cursor."""
        cursor.execute(self.sql, self.args(values))
        return cursor

    def rows(self, fetched: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """``fetched`` (driver rows) with the result processors applied (a ``NULL`` stays ``None``)."""
        processors = self.results
        if not any(processors):
            return [tuple(row) for row in fetched]
        pairs = [(index, process) for index, process in enumerate(processors) if process is not None]
        out = []
        for row in fetched:
            values = list(row)
            for index, process in pairs:
                value = values[index]
                if value is not None:
                    values[index] = process(value)
            out.append(tuple(values))
        return out


def prepare(statement: ClauseElement, dialect: Dialect, names: Sequence[str] = ()) -> Prepared:
    """Compile ``statement`` for ``dialect`` once.

    Args:
        statement: a Core statement whose caller-supplied parameters are ``bindparam(name)``.
        dialect: the dialect to compile for.
        names: the bind names :meth:`Prepared.args` takes, in that order; every other bind keeps
            the value it was compiled with.
    """
    compiled: Any = statement.compile(dialect=dialect)
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    defaults: dict[str, Any] = {}
    for name, bind in compiled.binds.items():
        if name in names:
            continue
        value = bind.effective_value
        defaults[name] = processors[name](value) if name in processors else value
    positional = tuple(compiled.positiontup) if compiled.positional else None
    order = {name: index for index, name in enumerate(names)}
    plan = tuple((order.get(name, -1), defaults.get(name)) for name in positional or ())
    identity = positional is not None and positional == tuple(names)
    constants = tuple(default for index, default in plan if index < 0)
    pick = None
    if positional is not None and not identity and plan:
        picks, extra = [], len(names)
        for index, _default in plan:
            if index >= 0:
                picks.append(index)
            else:
                picks.append(extra)
                extra += 1
        pick = _picker(picks)
    results = tuple(
        column.type.dialect_impl(dialect).result_processor(dialect, None) for column in _selected(statement)
    )
    return Prepared(
        sql=compiled.string,
        names=tuple(names),
        positional=positional,
        defaults=defaults,
        processors=processors,
        plan=plan,
        identity=identity,
        results=results,
        constants=constants,
        pick=pick,
    )


def _picker(indices: list[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """``values -> tuple(values[i] for i in indices)`` at C speed."""
    if len(indices) == 1:
        index = indices[0]
        return lambda values: (values[index],)
    return cast(Callable[[tuple[Any, ...]], tuple[Any, ...]], itemgetter(*indices))


def _selected(statement: ClauseElement) -> list[Any]:
    """The columns a statement returns (``SELECT`` columns or ``RETURNING`` columns)."""
    selected = getattr(statement, "selected_columns", None)
    if selected is not None:
        return list(selected)
    returning = getattr(statement, "_returning", ())
    return list(returning)


def _sqlite_instant(value: datetime) -> str:
    """An aware datetime as the naive UTC text ``UTCDateTime`` stores on SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError("datetimes stored by clinic_crm must be timezone-aware")
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


def _aware_instant(value: datetime) -> datetime:
    """An aware datetime in UTC, as ``UTCDateTime`` hands it to PostgreSQL."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise NaiveDatetimeError("datetimes stored by clinic_crm must be timezone-aware")
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def instant_binder(dialect: Dialect) -> Callable[[datetime], Any]:
    """How an instant is passed to ``dialect``'s driver: exactly what ``UTCDateTime``'s bind processing gives.

    The direct conversion is checked against the column type's own processing on a few instants
    once; should they ever disagree (another storage format), the type's processing is used.
    """
    column_type = UTCDateTime()
    process = column_type.dialect_impl(dialect).bind_processor(dialect)

    def exact(value: datetime) -> Any:
        return process(value) if process is not None else column_type.process_bind_param(value, dialect)

    fast = _sqlite_instant if dialect.name == "sqlite" else _aware_instant
    probes = (
        datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 30, 0, 5, tzinfo=UTC),
        datetime(2026, 10, 25, 2, 59, 59, 999999, tzinfo=ZoneInfo("Europe/Berlin")),
        datetime(999, 1, 1, tzinfo=ZoneInfo("Asia/Taipei")),
    )
    if all(fast(probe) == exact(probe) and type(fast(probe)) is type(exact(probe)) for probe in probes):
        return fast
    return exact  # pragma: no cover - only if SQLAlchemy changed how it stores datetimes
