"""The one builder of reminder rows: the column values every new reminder gets, row by row or set-based.

:func:`reminder_values` is the rule (a new reminder is ``pending``, ready when due, never attempted, with a fresh
idempotency key).  :func:`~clinic_crm.services.reminders.scheduling.new_reminder` builds its ORM object from it;
:func:`insert_rows` inserts many Python-built rows in batches; :func:`insert_select` inserts the rows of a query
(``INSERT … SELECT … ON CONFLICT (plan_key) DO NOTHING``), with values that may be column expressions of that
query.  Both inserts skip every ``plan_key`` that already exists and every erased or merged patient (who are never
contacted), so planners running at once cannot create a duplicate.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any
from typing import cast as cast_any

from sqlalchemy import ColumnElement, FromClause, String, cast, func, literal, null, select, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from clinic_crm.errors import Conflict
from clinic_crm.services.reminders._tables import t_patient, t_reminder

__all__ = [
    "reminder_values",
    "new_key",
    "insert_rows",
    "insert_select",
    "check_contactable",
    "contactable",
    "text_of",
    "bound",
    "INSERT_BATCH",
]

#: Rows per ``INSERT`` statement of :func:`insert_rows`.
INSERT_BATCH = 5000


def new_key() -> str:
    """A fresh idempotency key (128 random bits as 32 hex digits)."""
    return uuid.uuid4().hex


def reminder_values(
    *,
    clinic_id: Any,
    patient_id: Any,
    kind: Any,
    purpose: Any,
    due_at: Any,
    created_at: Any,
    idempotency_key: Any,
    channel: Any = None,
    visit_id: Any = None,
    care_plan_id: Any = None,
    plan_key: Any = None,
    payload: Any = None,
    expires_at: Any = None,
) -> dict[str, Any]:
    """The column values of a new reminder row (values, or column expressions for :func:`insert_select`).

    Callers validate first (``new_reminder`` does, planners derive checked values); this is where the row's
    defaults live: status ``pending``, ``ready_at`` = ``due_at``, no attempts, payload ``{}`` when none.
    """
    return {
        "clinic_id": clinic_id,
        "patient_id": patient_id,
        "visit_id": visit_id,
        "care_plan_id": care_plan_id,
        "kind": kind,
        "purpose": purpose,
        "channel": channel,
        "due_at": due_at,
        "ready_at": due_at,
        "expires_at": expires_at,
        "status": "pending",
        "attempts": 0,
        "idempotency_key": idempotency_key,
        "plan_key": plan_key,
        "payload": {} if payload is None else payload,
        "created_at": created_at,
    }


def contactable() -> ColumnElement[bool]:
    """The patient rows that may get a reminder: neither erased nor merged into another record."""
    return t_patient.c.erased_at.is_(None) & t_patient.c.merged_into_id.is_(None)


def check_contactable(session: Session, patient_ids: Iterable[int]) -> None:
    """Raise ``Conflict`` (as :func:`new_reminder` does) when one of the patients was erased or merged.

    Raises:
        Conflict: a patient was erased or merged into another record (the first such id is named).
    """
    ids = sorted(set(patient_ids))
    for start in range(0, len(ids), 1000):
        found = session.execute(
            select(t_patient.c.id, t_patient.c.erased_at, t_patient.c.merged_into_id)
            .where(t_patient.c.id.in_(ids[start : start + 1000]), ~contactable())
            .order_by(t_patient.c.id)
            .limit(1)
        ).first()
        if found is not None:
            gone = "erased" if found.erased_at is not None else f"merged into patient {found.merged_into_id}"
            raise Conflict(f"patient {found.id} was {gone}: no message may be scheduled for this record")


def cast_result(result: Any) -> CursorResult[Any]:
    """The ``CursorResult`` of a DML statement run by ``Session.execute`` (typed as ``Result`` there)."""
    return cast_any(CursorResult[Any], result)


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(t_reminder)


def insert_rows(session: Session, rows: Sequence[dict[str, Any]], *, fresh: bool = False) -> int:
    """Insert rows built with :func:`reminder_values`, skipping existing ``plan_key`` s and gone patients.

    ``fresh``: the caller has already dropped the keys it found (the read of existing keys is skipped; a conflict
    is still skipped by the database).  Returns how many were inserted.
    """
    if not rows:
        return 0
    gone: set[int] = set()
    ids = sorted({int(row["patient_id"]) for row in rows})
    for start in range(0, len(ids), 1000):
        gone.update(
            session.scalars(select(t_patient.c.id).where(t_patient.c.id.in_(ids[start : start + 1000]), ~contactable()))
        )
    # keys planned before are dropped here (one indexed read per 1000), so an idempotent re-run inserts nothing;
    # ON CONFLICT still settles a race with another planner
    keys = [] if fresh else [row["plan_key"] for row in rows if row["plan_key"] is not None]
    taken: set[str] = set()
    for start in range(0, len(keys), 1000):
        taken.update(
            session.scalars(select(t_reminder.c.plan_key).where(t_reminder.c.plan_key.in_(keys[start : start + 1000])))
        )
    if gone or taken:
        rows = [row for row in rows if row["patient_id"] not in gone and row["plan_key"] not in taken]
    if not rows:
        return 0
    stmt = _insert(session).on_conflict_do_nothing(index_elements=["plan_key"]).returning(t_reminder.c.id)
    inserted = 0
    for start in range(0, len(rows), INSERT_BATCH):
        inserted += len(session.execute(stmt, list(rows[start : start + INSERT_BATCH])).all())
    return inserted


def text_of(value: ColumnElement[Any]) -> ColumnElement[str]:
    """An integer column as text, for plan keys built in SQL (``'birthday:' || text_of(id) || …``)."""
    return cast(value, String)


def _random_key(dialect: str) -> ColumnElement[str]:
    if dialect == "postgresql":
        return func.replace(cast(func.gen_random_uuid(), String), "-", "")
    return func.lower(func.hex(func.randomblob(16)))


def bound(value: Any, kind: Any, dialect: str) -> ColumnElement[Any]:
    """A bound value of SQL type ``kind`` usable in a SELECT list on both databases.

    PostgreSQL types an untyped parameter of a SELECT list as text, so it gets a CAST to the type; SQLite only
    gets the type's bind processing (a CAST to DATETIME there would apply numeric affinity).
    """
    parameter = literal(value, type_=kind)
    return cast(parameter, kind) if dialect == "postgresql" else type_coerce(parameter, kind)


def _column(name: str, value: Any, dialect: str) -> ColumnElement[Any]:
    """A select-list entry for column ``name``: the expression, NULL, or a bound value of the column's type."""
    if isinstance(value, ColumnElement):
        return value.label(name)
    if value is None:
        return null().label(name)
    return bound(value, t_reminder.c[name].type, dialect).label(name)


def insert_select(session: Session, values: dict[str, Any], source: FromClause, *where: ColumnElement[bool]) -> int:
    """``INSERT INTO reminder … SELECT <values> FROM source WHERE … ON CONFLICT (plan_key) DO NOTHING``.

    ``values`` come from :func:`reminder_values`; its ``idempotency_key`` is replaced by a random key per row
    computed by the database.  ``source`` must join ``patient`` (gone patients are skipped).  Returns the number
    of rows inserted.
    """
    dialect = session.get_bind().dialect.name
    values = {**values, "idempotency_key": _random_key(dialect)}
    names = list(values)
    query = select(*(_column(name, values[name], dialect) for name in names)).select_from(source)
    query = query.where(contactable(), *where)
    stmt = _insert(session).from_select(names, query).on_conflict_do_nothing(index_elements=["plan_key"])
    # SQLAlchemy keeps an INSERT's row count only when asked (DBAPI rowcount: rows inserted, conflicts excluded)
    result = session.execute(stmt, execution_options={"synchronize_session": False, "preserve_rowcount": True})
    return int(cast_result(result).rowcount or 0)
