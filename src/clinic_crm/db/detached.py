"""Model instances of a list read built straight from a Core result, without the ORM's per-row loading.

A read-only call that owns its session (:func:`clinic_crm.api._unit.owns_read`) hands back instances that
are detached the moment it returns.  Loading them through the session costs more than the query itself for
a list of a few hundred rows (the ORM's per-row loading context, identity map and state bookkeeping).  A
:class:`DetachedQuery` runs a Core ``SELECT`` of every column of the model's table (compiled once: its
structure never varies, so SQLAlchemy's compile cache always hits) and builds each instance as the ORM
would leave it after the session closed: every column loaded, the identity key set, no session.

In a caller's transaction (``crm.transaction()``, ``crm.bind(session)``) the same statement runs through
the ORM instead, so the instances belong to the caller's session as any other call's do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import ColumnElement, Select, Table, inspect, select
from sqlalchemy.orm import Mapped, Mapper, Session

__all__ = ["DetachedQuery"]

M = TypeVar("M")


class DetachedQuery(Generic[M]):
    """Every column of ``model``'s rows matching ``where``, in ``order_by`` order, as instances of ``model``.

    Args:
        model: a mapped table model whose columns map one to one onto attributes (no inheritance, no
            deferred columns).
        where: the criteria; call-time values are ``bindparam(name)`` markers.
        order_by: the ordering.
    """

    def __init__(
        self,
        model: type[M],
        *,
        where: tuple[ColumnElement[bool], ...] = (),
        order_by: tuple[ColumnElement[Any] | Mapped[Any], ...],
    ) -> None:
        mapper: Mapper[M] = inspect(model)
        table = cast(Table, mapper.local_table)
        columns = list(table.columns)
        self.model = model
        #: The Core statement (rows as tuples, in the table's column order).
        self.statement: Select[Any] = select(*columns).where(*where).order_by(*order_by)
        #: The same query through the ORM (for a caller's session).
        self.orm_statement: Select[Any] = select(model).where(*where).order_by(*order_by)
        self._keys = tuple(mapper.get_property_by_column(column).key for column in columns)
        (primary,) = mapper.primary_key
        self._id_index = next(index for index, column in enumerate(columns) if column is primary)
        self._new: Callable[[], M] = mapper.class_manager.new_instance

    def all(
        self,
        session: Session,
        parameters: Mapping[str, Any],
        *,
        detached: bool,
        also: tuple[ColumnElement[bool], ...] = (),
    ) -> list[M]:
        """The matching instances; ``detached``: built from the Core rows (the session is the call's own).

        ``also``: further criteria of this call (a search whose conditions depend on its arguments).
        """
        if not detached:
            orm = self.orm_statement.where(*also) if also else self.orm_statement
            return list(session.scalars(orm, parameters))
        core = self.statement.where(*also) if also else self.statement
        return self._build(session.connection().execute(core, parameters).all())

    def _build(self, rows: Sequence[Any]) -> list[M]:
        model, keys, id_index, new = self.model, self._keys, self._id_index, self._new
        out: list[M] = []
        append = out.append
        for row in rows:
            instance = new()
            instance.__dict__.update(zip(keys, row, strict=True))
            instance._sa_instance_state.key = (model, (row[id_index],), None)  # type: ignore[attr-defined]
            append(instance)
        return out
