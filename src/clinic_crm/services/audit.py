"""The audit trail: one event per patient read or changed, hash-chained, written set-based.

Every writer goes through :func:`record_audit`: it locks the chain's tail (the one ``audit_head``
row: ``SELECT … FOR UPDATE`` on PostgreSQL; SQLite writers are already serialised by
``BEGIN IMMEDIATE``), numbers the new events after it, chains their hashes in Python and writes
them with one driver-level INSERT (``executemany`` on SQLite; on PostgreSQL one multi-row ``VALUES`` for
the few events of a read, ``COPY`` for a large batch), then moves the tail.  A call that records many batches (an
import's chunks) uses :class:`AuditBatches`: the tail is locked and read once and moved once, at the end.
Event ids are therefore consecutive and their order is the chain's order.

``hash = sha256(prev_hash + canonical)`` with ``canonical = "<id>\\x1f<patient_id>\\x1f" +
JSON([at ISO UTC µs, actor, action, detail])``; the first event's ``prev_hash`` is 64 zeros.
:func:`verify_audit` streams the events in id order and recomputes the chain: an edited row, a
deleted row (a gap, a broken link, or a tail that no longer matches ``audit_head``) or a reordered
one is found.  (Someone able to rewrite every later hash and the tail could forge a consistent
chain; export the last hash elsewhere now and then to anchor it.)
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Connection, Table, insert, select, update
from sqlalchemy.orm import Session

from clinic_crm.api._unit import actor_of, deferred_writes, reads
from clinic_crm.db.copy import copy_rows, copy_types, uses_copy
from clinic_crm.errors import ValidationError
from clinic_crm.models import AUDIT_ACTIONS, AuditEvent, AuditHead
from clinic_crm.services._common import check_id
from clinic_crm.values import check_choice, utcnow

__all__ = ["GENESIS", "AuditBatches", "record_audit", "audit_for_patient", "verify_audit", "canonical_detail"]

#: ``prev_hash`` of the first event.
GENESIS = "0" * 64

_EVENTS = cast(Table, AuditEvent.__table__)  # type: ignore[attr-defined]
_HEAD = cast(Table, AuditHead.__table__)  # type: ignore[attr-defined]
_COPY_FROM = 200  # events of one call from which PostgreSQL gets a COPY instead of an INSERT executemany
_COLUMNS = ("id", "at", "actor", "action", "patient_id", "detail", "prev_hash", "hash")


def canonical_detail(detail: Mapping[str, Any] | None) -> str:
    """``detail`` as compact JSON with sorted keys (what is stored and hashed)."""
    text = json.dumps(dict(detail or {}), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    if len(text) > 2000:
        raise ValidationError("audit detail must be at most 2000 characters of JSON", field="detail")
    return text


def _common(at: datetime, actor: str, action: str, detail: str) -> str:
    """The part of an event's canonical form shared by every event of one call."""
    stamp = at.astimezone(UTC).isoformat(timespec="microseconds")
    return json.dumps([stamp, actor, action, detail], ensure_ascii=False, separators=(",", ":"))


def _hash(prev: str, event_id: int, patient_id: int | None, common: str) -> str:
    pid = "" if patient_id is None else str(patient_id)
    return hashlib.sha256(f"{prev}{event_id}\x1f{pid}\x1f{common}".encode()).hexdigest()


class _Sql:
    """The INSERT for the driver (positional markers, rows as tuples in ``_COLUMNS`` order) and the ``at`` processor.

    Written at driver level because an import records one event per patient: SQLAlchemy's per-row
    parameter processing would cost more than the insert; ``at`` goes through the column type's own
    bind processor (once per call: every event of a call has the same ``at``), so what is stored is identical.
    """

    def __init__(self, session: Session) -> None:
        dialect = session.connection().dialect
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.group = f"({', '.join([mark] * len(_COLUMNS))})"
        self.sql = f"INSERT INTO audit_event ({', '.join(_COLUMNS)}) VALUES {self.group}"
        # PostgreSQL with psycopg 3: COPY for large batches (an import), as the import itself does
        self.copy = uses_copy(dialect)
        self.copy_types = copy_types(_EVENTS, _COLUMNS, dialect)  # binary COPY
        # PostgreSQL: a few events (a read) in one multi-row INSERT, one round trip instead of executemany's pipeline
        self.multi_row = dialect.name == "postgresql"
        self._multi: dict[int, str] = {}
        self.at_processor = _EVENTS.c.at.type.dialect_impl(dialect).bind_processor(dialect)

    def multi(self, count: int) -> str:
        """The INSERT of ``count`` events as one statement (parameters flattened, row after row)."""
        found = self._multi.get(count)
        if found is None:
            found = self._multi[count] = self.sql + "".join([", " + self.group] * (count - 1))
        return found


_SQL: dict[tuple[str, str, str], _Sql] = {}


def _sql(session: Session) -> _Sql:
    dialect = session.connection().dialect
    key = (dialect.name, dialect.driver, dialect.paramstyle)
    found = _SQL.get(key)
    if found is None:
        found = _SQL[key] = _Sql(session)
    return found


def record_audit(
    session: Session,
    patient_ids: Iterable[int | None],
    action: str,
    detail: Mapping[str, Any] | None = None,
) -> int:
    """Add one audit event per patient id (``None``: an event about no single patient), acting as the session's actor.

    One INSERT for all of them; safe under concurrent writers (the chain's tail is locked until commit).
    In a read-only call (``api._unit.reads``) the events are checked now and written once the read succeeded
    (``api._unit.writes_after_read``: on SQLite in a short write transaction after it, so the read itself never
    waits for the write lock; on PostgreSQL at the end of the read's own transaction).

    Args:
        session: the caller's session (flushed, never committed).
        patient_ids: the patients read or changed, in the order to record them.
        action: one of :data:`clinic_crm.models.AUDIT_ACTIONS`.
        detail: ids, field names, counts — never a name, phone, e-mail or free text about a patient.

    Returns:
        How many events were written.

    Raises:
        ValidationError: unknown action, or a detail longer than 2000 characters of JSON.
    """
    check_choice(action, AUDIT_ACTIONS, "action")
    ids = list(patient_ids)
    if not ids:
        return 0
    text = canonical_detail(detail)
    actor = actor_of(session)
    later = deferred_writes(session)
    if later is not None:
        later.append(lambda s: _write_events(s, ids, actor, action, text))
        return len(ids)
    return _write_events(session, ids, actor, action, text)


def _write_events(session: Session, ids: list[int | None], actor: str, action: str, text: str) -> int:
    """Append one chained event per id after the chain's tail (locked until commit) and move the tail."""
    connection = session.connection()
    tail = _lock_tail(connection)
    tail = _append(session, tail, ids, actor, action, text)
    _move_tail(connection, tail)
    return len(ids)


def _lock_tail(connection: Connection) -> tuple[int, str]:
    """The chain's tail ``(last event id, its hash)``, locked until commit (``SELECT … FOR UPDATE``)."""
    head = connection.execute(
        select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
    ).first()
    if head is None:  # a schema made without the migration's seed row (SQLite writers are serialised)
        connection.execute(insert(_HEAD).values(id=1, last_id=0, last_hash=GENESIS))
        return 0, GENESIS
    return int(head[0]), str(head[1])


def _move_tail(connection: Connection, tail: tuple[int, str]) -> None:
    connection.execute(update(_HEAD).where(_HEAD.c.id == 1).values(last_id=tail[0], last_hash=tail[1]))


def _append(
    session: Session, tail: tuple[int, str], ids: list[int | None], actor: str, action: str, text: str
) -> tuple[int, str]:
    """Write one event per id chained after ``tail`` (one statement); return the new tail (not stored here)."""
    at = utcnow()
    common = _common(at, actor, action, text)
    connection = session.connection()
    last_id, prev = tail
    sql = _sql(session)
    stored_at = at if sql.at_processor is None else sql.at_processor(at)
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    sha256 = hashlib.sha256
    for patient_id in ids:
        last_id += 1
        digest = sha256(
            f"{prev}{last_id}\x1f{'' if patient_id is None else patient_id}\x1f{common}".encode()
        ).hexdigest()
        append((last_id, stored_at, actor, action, patient_id, text, prev, digest))
        prev = digest
    if sql.copy and len(rows) >= _COPY_FROM:
        copy_rows(connection, "audit_event", _COLUMNS, rows, types=sql.copy_types)
    elif sql.multi_row and len(rows) < _COPY_FROM:
        connection.exec_driver_sql(sql.multi(len(rows)), tuple(value for row in rows for value in row))
    else:
        connection.exec_driver_sql(sql.sql, rows)
    return last_id, prev


class AuditBatches:
    """The events of one call that records many batches (an import's chunks), chained as :func:`record_audit` does.

    The chain's tail is locked and read at the first batch and kept here; :meth:`close` moves it once, so each
    batch costs one statement instead of three.  Nothing else may record events on the session between the first
    batch and :meth:`close` (the tail in the database is stale meanwhile); an error in between must roll the
    transaction (or the call's savepoint) back, as it does for every public call.  In a read-only call the
    batches go through :func:`record_audit` (deferred).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.actor = actor_of(session)
        self.deferred = deferred_writes(session) is not None
        self.tail: tuple[int, str] | None = None

    def record(self, patient_ids: Iterable[int | None], action: str, detail: Mapping[str, Any] | None = None) -> int:
        """:func:`record_audit` for one batch: one event per id, appended after the previous batch's."""
        if self.deferred:
            return record_audit(self.session, patient_ids, action, detail)
        check_choice(action, AUDIT_ACTIONS, "action")
        ids = list(patient_ids)
        if not ids:
            return 0
        text = canonical_detail(detail)
        tail = self.tail
        if tail is None:
            tail = _lock_tail(self.session.connection())
        self.tail = _append(self.session, tail, ids, self.actor, action, text)
        return len(ids)

    def close(self) -> None:
        """Move the chain's tail after the last batch (nothing to do when no batch was written)."""
        if self.tail is not None:
            _move_tail(self.session.connection(), self.tail)
            self.tail = None


@reads
def audit_for_patient(session: Session, patient_id: int) -> list[AuditEvent]:
    """The audit trail of one patient, oldest first.

    Args:
        patient_id: the patient (events stay after a merge or an erasure).

    Returns:
        Every ``AuditEvent`` about the patient, in the order they were recorded.

    Raises:
        ValidationError: ``patient_id`` is not an integer.
        NotFound: ``patient_id`` outside ``1 … MAX_ID`` (no patient can have it).
    """
    check_id(patient_id, "patient_id")
    query = select(AuditEvent).where(_EVENTS.c.patient_id == patient_id).order_by(_EVENTS.c.id)
    return list(session.scalars(query))


@reads
def verify_audit(session: Session) -> bool:
    """Whether the audit chain is intact: every event's hash recomputes and links to the one before it.

    Streams the events in id order (one query, constant memory) and compares the end with the
    chain's recorded tail, so an edited, deleted (anywhere, the last one too) or reordered event is found.

    Returns:
        ``True`` when the chain is intact (also when it is empty), else ``False``.
    """
    head = session.execute(select(_HEAD.c.last_id, _HEAD.c.last_hash).where(_HEAD.c.id == 1)).first()
    expected_id, prev = 0, GENESIS
    query = select(
        _EVENTS.c.id,
        _EVENTS.c.at,
        _EVENTS.c.actor,
        _EVENTS.c.action,
        _EVENTS.c.patient_id,
        _EVENTS.c.detail,
        _EVENTS.c.prev_hash,
        _EVENTS.c.hash,
    ).order_by(_EVENTS.c.id)
    result = session.execute(query.execution_options(yield_per=10_000))
    for event_id, at, actor, action, patient_id, detail, prev_hash, digest in result:
        expected_id += 1
        if event_id != expected_id or prev_hash != prev:
            result.close()
            return False
        if _hash(prev, event_id, patient_id, _common(at, actor, action, detail)) != digest:
            result.close()
            return False
        prev = digest
    if head is None:
        return expected_id == 0
    return int(head[0]) == expected_id and str(head[1]) == prev
