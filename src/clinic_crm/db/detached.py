"""Model instances of a list read built straight from rows, without the ORM's per-row loading.

A read-only call hands back instances that are detached the moment it returns.  Loading them through a session
costs more than the query itself for a list of a few hundred rows (the ORM's per-row loading context, identity
map and state bookkeeping).  A :class:`DetachedQuery` selects every column of the model's table (statements built
once: their structure never varies) and builds each instance with a row builder generated for the model — every
column loaded, the identity key set, no session — as the ORM leaves an instance once its session closed.

Three ways to run it, from the cheapest:

* :meth:`DetachedQuery.whole` — a call of its own on an engine :func:`supports_whole_read` accepts (the facade's
  session-free reads, :func:`clinic_crm.api._unit.sessionless`): no ``Session``, no SQLAlchemy ``Connection``.
  The SQL text compiled once per dialect runs on a pooled driver connection as one statement outside any
  explicit transaction (:func:`whole_read`), and the driver's values are converted by the generated builder
  (on SQLite the stored instants are parsed inline, as ``UTCDateTime`` parses them).
* :meth:`DetachedQuery.all` with ``detached=True`` — the call's own session (a ``dry_run``, another driver): the
  Core statement on the session's connection, instances built from the processed rows.
* :meth:`DetachedQuery.all` with ``detached=False`` — a caller's transaction (``crm.transaction()``,
  ``crm.bind(session)``): the same statement through the ORM, so the instances belong to the caller's session as
  any other call's do.

A query with a ``parent`` (the patient of a visit history, the clinic of a follow-up list) also tells, in the same
statement, whether that parent exists: ``<the rows> UNION ALL SELECT NULL, … WHERE NOT EXISTS (<the parent's row>)``.
A row of ``NULL``\\ s — the parent does not exist (``missing`` is raised); no row — it exists and has nothing
listed; else the rows.  (A ``LEFT OUTER JOIN`` from the parent's row says the same, but SQLite, once ``ANALYZE``
found a small parent table, scans it and then sorts the rows in a temporary B-tree; the ``UNION ALL`` keeps the
rows in their index's order, merged with the one-row branch.)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Engine,
    Select,
    Table,
    UnaryExpression,
    bindparam,
    exists,
    inspect,
    null,
    select,
    union_all,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, Mapper, Session
from sqlalchemy.orm.state import InstanceState
from sqlalchemy.pool import SingletonThreadPool, StaticPool
from sqlalchemy.sql import operators

from clinic_crm.db import driver_error
from clinic_crm.db.prepared import Prepared, prepare
from clinic_crm.models._base import SQLITE_TEXT_LENGTHS, UTCDateTime

__all__ = ["DetachedQuery", "whole_read", "supports_whole_read"]

M = TypeVar("M")

#: The drivers :func:`whole_read` knows how to run one statement outside a transaction on.
_WHOLE_READ_DRIVERS = frozenset({("sqlite", "pysqlite"), ("postgresql", "psycopg")})

#: Builds the instances of a list of rows.
Builder = Callable[[Sequence[Sequence[Any]]], list[Any]]


def supports_whole_read(engine: Engine) -> bool:
    """Whether :func:`whole_read` runs on ``engine``: SQLite's ``sqlite3`` or PostgreSQL's psycopg 3, and a pool
    whose checkouts never share a connection.

    A pool that hands one connection to every checkout (``StaticPool``, as for ``sqlite://`` in memory;
    ``SingletonThreadPool``) is left out: returning the read's checkout resets (rolls back) that shared
    connection, which would end a transaction another checkout still has open on it.
    """
    if isinstance(engine.pool, (StaticPool, SingletonThreadPool)):
        return False
    return (engine.dialect.name, engine.dialect.driver) in _WHOLE_READ_DRIVERS


def whole_read(engine: Engine, sql: str, parameters: Any) -> list[Any]:
    """The rows of one read statement run on a pooled driver connection, outside any explicit transaction.

    One statement reads one consistent snapshot on both databases, so a read needs no ``BEGIN``/``COMMIT``: on
    SQLite no transaction is open on a connection checked out of the pool and ``sqlite3`` opens none for a
    ``SELECT`` (:mod:`clinic_crm.db` even takes transaction control away from it), so the statement takes no lock
    beyond its own read; on PostgreSQL the connection is switched to autocommit for the statement (client-side, no
    round trip), as SQLAlchemy's own pre-ping does.  ``engine`` must pass :func:`supports_whole_read`.

    Raises:
        sqlalchemy.exc.DBAPIError: the driver failed (wrapped, without SQL or parameters; a dropped connection
            is invalidated, never handed back to the pool).
    """
    dialect = engine.dialect
    pooled = engine.raw_connection()
    try:
        driver: Any = pooled.driver_connection
        try:
            if dialect.name == "postgresql" and not driver.autocommit:
                driver.autocommit = True
                try:
                    return cast(list[Any], driver.execute(sql, parameters).fetchall())
                finally:
                    if not driver.closed:
                        driver.autocommit = False
            return cast(list[Any], driver.execute(sql, parameters).fetchall())
        except dialect.loaded_dbapi.Error as exc:
            dropped = dialect.is_disconnect(exc, pooled.dbapi_connection, None)
            if dropped:
                pooled.invalidate()
            raise driver_error(dialect, exc, dropped=dropped) from exc
    finally:
        pooled.close()


class DetachedQuery(Generic[M]):
    """Every column of ``model``'s rows matching ``where``, in ``order_by`` order, as instances of ``model``.

    Args:
        model: a mapped table model whose columns map one to one onto attributes (no inheritance, no
            deferred columns).
        parent: ``(parent model, the model's column holding the parent's id)``: the rows of one parent, whose id
            is passed as the bind named after that column (``patient_id``); see the module doc.
        missing: with ``parent``: the error raised when the parent does not exist, ``missing(parent model, id)``.
        where: further criteria; call-time values are ``bindparam(name)`` markers.
        order_by: the ordering.
    """

    def __init__(
        self,
        model: type[M],
        *,
        parent: tuple[type[Any], ColumnElement[Any] | Mapped[Any]] | None = None,
        missing: Callable[[type[Any], int], Exception] | None = None,
        where: tuple[ColumnElement[bool], ...] = (),
        order_by: tuple[ColumnElement[Any] | Mapped[Any], ...],
    ) -> None:
        mapper: Mapper[M] = inspect(model)
        table = cast(Table, mapper.local_table)
        columns = list(table.columns)
        self.model = model
        self.parent: type[Any] | None = None
        self.parent_key = ""
        self._missing = missing
        if parent is None:
            #: The Core statement (rows as tuples, in the table's column order).
            self.statement: Select[Any] | CompoundSelect[Any] = select(*columns).where(*where).order_by(*order_by)
            #: The same query through the ORM (for a caller's session).
            self.orm_statement: Select[Any] | Any = select(model).where(*where).order_by(*order_by)
        else:
            if missing is None:
                raise TypeError("a DetachedQuery with a parent needs missing=")
            parent_model, link = parent
            parent_mapper: Mapper[Any] = inspect(parent_model)
            (parent_id,) = parent_mapper.primary_key
            link_column = cast(ColumnElement[Any], link)
            self.parent = parent_model
            self.parent_key = str(getattr(link_column, "key", ""))
            of_parent: Any = bindparam(self.parent_key)
            rows = select(*columns).where(link_column == of_parent, *where)
            missing_row = select(*(null().label(column.name) for column in columns)).where(
                ~exists().where(parent_id == of_parent)
            )
            compound: CompoundSelect[Any] = union_all(rows, missing_row)
            self.statement = compound.order_by(*_by_name(compound, order_by))
            self.orm_statement = select(model).from_statement(self.statement)
        self._columns = columns
        self._keys = tuple(mapper.get_property_by_column(column).key for column in columns)
        (primary,) = mapper.primary_key
        self._id_index = next(index for index, column in enumerate(columns) if column is primary)
        self._manager = mapper.class_manager
        #: Builds instances from rows whose values SQLAlchemy already processed (the Core path).
        self._processed: Builder = self._builder({})
        self._plans: dict[Dialect, tuple[Prepared, Builder, Builder]] = {}

    def all(
        self,
        session: Session,
        parameters: Mapping[str, Any],
        *,
        detached: bool,
        also: tuple[ColumnElement[bool], ...] = (),
    ) -> list[M]:
        """The matching instances; ``detached``: built from the Core rows (the session is the call's own).

        ``also``: further criteria of this call (a search whose conditions depend on its arguments; not with a
        ``parent``).

        Raises:
            the ``missing`` error: with a ``parent``, that parent does not exist.
        """
        if also and self.parent is not None:
            raise TypeError("also= is for a DetachedQuery without a parent")
        if not detached:
            orm = self.orm_statement.where(*also) if also else self.orm_statement
            instances = list(session.scalars(orm, parameters))
            if self.parent is not None and None in instances:  # the ORM's None for the row of NULLs
                assert self._missing is not None
                raise self._missing(self.parent, parameters[self.parent_key])
            return instances
        core: Any = self.statement.where(*also) if also and isinstance(self.statement, Select) else self.statement
        return self._of_parent(session.connection().execute(core, parameters).all(), parameters, self._processed)

    def whole(self, engine: Engine, parameters: Mapping[str, Any]) -> list[M]:
        """The matching instances, read with :func:`whole_read` (no session; ``engine`` passes
        :func:`supports_whole_read`): one statement, the parent's existence included.

        Raises:
            the ``missing`` error: with a ``parent``, that parent does not exist.
            sqlalchemy.exc.DBAPIError: the driver failed.
        """
        plan = self._plans.get(engine.dialect)
        if plan is None:
            plan = self._plans[engine.dialect] = self._plan(engine.dialect)
        prepared, fast, safe = plan
        rows = whole_read(engine, prepared.sql, prepared.parameters(parameters))

        def build(found: Sequence[Sequence[Any]]) -> list[Any]:
            try:
                return fast(found)
            except (ValueError, TypeError, AttributeError):
                return safe(found)  # a value the inline conversion does not take: the column types' own processing

        return self._of_parent(rows, parameters, build)

    def _of_parent(
        self, found: Sequence[Any], parameters: Mapping[str, Any], build: Callable[[Sequence[Any]], list[Any]]
    ) -> list[M]:
        """``build(found)``, after raising ``missing`` when ``found`` holds the row of ``NULL``\\ s (first or last:
        where the database sorts ``NULL``)."""
        if self.parent is not None and found:
            key = self._id_index
            if found[0][key] is None or found[-1][key] is None:
                assert self._missing is not None
                raise self._missing(self.parent, parameters[self.parent_key])
        return cast(list[M], build(found))

    def _plan(self, dialect: Dialect) -> tuple[Prepared, Builder, Builder]:
        """The statement compiled for ``dialect``, and the builders of the driver's rows: fast and safe."""
        prepared = prepare(self.statement, dialect)
        processors = {
            index: process for index, process in enumerate(prepared.results) if process is not None
        }  # the column types' own result processing: the safe builder, and the fast one's fallback
        safe = self._builder({index: f"P{index}(c{index})" for index in processors}, processors)
        inline: dict[int, str] = {}
        for index, column in enumerate(self._columns):
            if index not in processors:
                continue
            value = f"c{index}"
            if isinstance(column.type, UTCDateTime) and dialect.name == "sqlite":
                # as UTCDateTime reads SQLite's stored text: naive UTC text + "+00:00", one parse
                parse = f"(parse({value} + '+00:00') if len({value}) in LENGTHS else P{index}({value}))"
                inline[index] = f"(None if {value} is None else {parse})" if column.nullable else parse
            elif isinstance(column.type, UTCDateTime):
                # as UTCDateTime reads psycopg's aware datetimes: one already in UTC passes through
                inline[index] = f"({value} if {value} is None or {value}.tzinfo is UTC else P{index}({value}))"
            else:
                inline[index] = f"P{index}({value})"
        return prepared, self._builder(inline, processors), safe

    def _builder(self, expressions: Mapping[int, str], processors: Mapping[int, Any] | None = None) -> Builder:
        """A function building the instances of a list of rows, each value through ``expressions[index]``
        (``c<index>`` is the driver's value, ``P<index>`` that column's processor) or as it is."""
        names = [f"c{index}" for index in range(len(self._keys))]
        values = ", ".join(f"{key!r}: {expressions.get(index, names[index])}" for index, key in enumerate(self._keys))
        slots, fresh = _slot_defaults(self.model)
        create = "        instance = new(model)\n"
        if slots is not None:  # what the model's __new__ would set, without its call and attribute lookups
            create = "        instance = bare(model)\n" + "".join(
                f"        S{index}(instance, {fresh[index]})\n" for index in range(len(slots))
            )
        source = (
            "def build(rows):\n"
            "    out = []\n"
            "    append = out.append\n"
            f"    for {', '.join(names)}, in rows:\n"
            f"{create}"
            "        state = State(instance, manager)\n"
            f"        state.key = (model, (c{self._id_index},), None)\n"
            f"        instance.__dict__.update({{'_sa_instance_state': state, {values}}})\n"
            "        append(instance)\n"
            "    return out\n"
        )
        namespace: dict[str, Any] = {
            "new": self.model.__new__,
            "bare": object.__new__,
            **{f"S{index}": setter for index, setter in enumerate(slots or ())},
            "model": self.model,
            "State": InstanceState,
            "manager": self._manager,
            "parse": datetime.fromisoformat,
            "UTC": UTC,
            "LENGTHS": SQLITE_TEXT_LENGTHS,
            **{f"P{index}": process for index, process in (processors or {}).items()},
        }
        exec(compile(source, f"<row builder of {self.model.__name__}>", "exec"), namespace)  # noqa: S102
        return cast(Builder, namespace["build"])


def _by_name(
    compound: CompoundSelect[Any], order_by: tuple[ColumnElement[Any] | Mapped[Any], ...]
) -> list[ColumnElement[Any]]:
    """``order_by`` (columns of the first branch, maybe ``.desc()``) as the compound's own columns: a
    ``UNION``'s ``ORDER BY`` names its result columns."""
    out: list[ColumnElement[Any]] = []
    for term in order_by:
        element: Any = term
        descending = isinstance(element, UnaryExpression) and element.modifier is operators.desc_op
        column = element.element if isinstance(element, UnaryExpression) else element
        own = compound.selected_columns[column.name]
        out.append(own.desc() if descending else own)
    return out


def _slot_defaults(model: type[Any]) -> tuple[list[Callable[[Any, Any], None]] | None, list[str]]:
    """How ``model.__new__(model)`` sets up an instance's slots, when that is all it does: their setters and the
    source of each fresh value (``set()``, ``None``…); ``None`` when it does anything else.

    SQLModel's ``__new__`` only gives pydantic's slots their empty values (the ORM's loading calls it, not
    ``__init__``); the row builders give them the same values directly.  Decided from a probe instance, so a
    model or a SQLModel version whose ``__new__`` does more keeps calling it.
    """
    probe: Any = cast(Any, model).__new__(model)
    if probe.__dict__:
        return None, []
    setters: list[Callable[[Any, Any], None]] = []
    fresh: list[str] = []
    seen: set[str] = set()
    for klass in model.__mro__:
        names = klass.__dict__.get("__slots__", ())
        for name in (names,) if isinstance(names, str) else names:
            descriptor: Any = klass.__dict__.get(name)
            if name in seen or name == "__dict__" or not hasattr(descriptor, "__set__"):
                continue
            seen.add(name)
            try:
                value = getattr(probe, name)
            except AttributeError:
                continue  # left unset by __new__
            literal = _EMPTY.get(type(value))
            if literal is None or (value is not None and len(value) != 0):
                return None, []
            setters.append(descriptor.__set__)
            fresh.append(literal)
    return setters, fresh


#: The empty values a model's ``__new__`` may give its slots, as source text making a fresh one.
_EMPTY: dict[type[Any], str] = {type(None): "None", set: "set()", dict: "{}", list: "[]"}
