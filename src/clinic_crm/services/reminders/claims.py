"""Claims of due reminders: the claim SQL, leases and fenced outcomes (the database side of dispatch).

* **Claim**: one short transaction marks up to a batch of due rows ``sending`` with a fresh claim token and a
  lease (``ready_at = now + lease``).  PostgreSQL uses ``FOR UPDATE SKIP LOCKED``; SQLite serialises claims
  with the ``BEGIN IMMEDIATE`` write lock.  A row whose lease expired is claimed again by whoever comes next,
  with the same idempotency key.  :func:`due_ids` keeps the cost of a claim independent of the backlog.
* **Load**: the claimed rows with their patients and visits in one query, after the claim commits, so SQLite's
  write lock covers the claim ``UPDATE`` only; clinics and templates once per call, pauses once per batch.
* **Fence**: every outcome is written with ``WHERE id = :id AND claim_token = :token AND status = 'sending'``
  (:func:`write`), so a dispatcher whose lease was taken over changes nothing.  Before each send, ``fence``
  re-reads consent and the visit's status in a ``SELECT`` that returns nothing when the reminder is no longer
  ours; the lease of the rows a batch still holds is extended set-based (``extend``, one ``UPDATE``) once a
  tenth of it has gone by.

Statements are compiled once per dialect (:func:`statements`) and run on the DB-API cursor of the loop's
:class:`~clinic_crm.db.runner.Runner` (see :mod:`clinic_crm.db.prepared`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, func, literal_column, select, union_all, update
from sqlalchemy.engine import Dialect

from clinic_crm.db.prepared import Prepared, instant_binder, prepare
from clinic_crm.db.runner import Runner
from clinic_crm.messaging.render import TemplateText
from clinic_crm.models.patients import display_name
from clinic_crm.services.reminders._tables import (
    t_clinic,
    t_clinic_pause,
    t_consent_event,
    t_message_template,
    t_patient,
    t_reminder,
    t_visit,
)
from clinic_crm.services.reminders.checks import Outcome

__all__ = [
    "Item",
    "PatientInfo",
    "ClinicInfo",
    "Batch",
    "CallCache",
    "Statements",
    "Write",
    "statements",
    "due_ids",
    "claim_query",
    "claim",
    "write",
    "record",
    "record_alone",
    "release",
]

log = logging.getLogger("clinic_crm.reminders")

Write = tuple[str, Any]  # (SQL, driver parameters) of one fenced outcome UPDATE


# --- the snapshot a claim loads -------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: built per message, and a frozen __init__ costs more
class Item:
    """One claimed reminder, as the claim loaded it."""

    id: int
    clinic_id: int
    patient_id: int
    visit_id: int | None
    kind: str
    purpose: str
    channel: str | None
    attempts: int
    idempotency_key: str
    payload: dict[str, Any]
    expires_at: datetime | None
    has_care_plan: bool


@dataclass(slots=True)  # not frozen: built per message, and a frozen __init__ costs more
class PatientInfo:
    """What dispatch needs of a claimed reminder's patient (never logged)."""

    name: str
    phone: str | None
    email: str | None
    locale: str
    timezone: str
    erased: bool = False  # erased patients are never contacted (suppressed "erased")


@dataclass(frozen=True, slots=True)
class ClinicInfo:
    """A clinic's name and quiet hours, read once per ``dispatch`` call."""

    name: str
    quiet_start: time
    quiet_end: time


@dataclass(slots=True)
class Batch:
    """One claim: its token, its reminders in due order, and what checking and rendering them needs."""

    token: str
    items: list[Item]
    patients: dict[int, PatientInfo]
    clinics: dict[int, ClinicInfo]
    visits: dict[int, tuple[datetime, str]]
    paused: set[tuple[int, str]]
    templates: dict[tuple[int, str, str, str], TemplateText]
    lease_end: datetime  # when the claim on the rows it still holds ends (their ``ready_at``)


def due_ids(dialect: str, size: int, now: datetime | BindParameter[Any]) -> Select[Any]:
    """The ids of up to ``size`` claimable reminders: expired claims (take-overs) first, then pending, oldest first.

    PostgreSQL: one scan of the partial index ``(ready_at, id) WHERE status IN ('pending', 'sending')`` with
    ``FOR UPDATE SKIP LOCKED``: its cost follows the claim size, not the backlog.  SQLite: two
    index range scans (``status = 'sending'``, then ``'pending'``) that return rows already in
    ``ready_at`` order, so a large backlog is never sorted (``status IN (…) ORDER BY ready_at`` would
    sort every due row on each claim).
    """
    r = t_reminder
    if dialect == "postgresql":
        return (
            select(r.c.id)
            # the statuses as SQL literals (not binds), so the planner proves the partial index
            # ix_reminder_claimable applies: an index scan in (ready_at, id) order, no sort of the backlog
            .where(r.c.status.in_([literal_column("'pending'"), literal_column("'sending'")]), r.c.ready_at <= now)
            .order_by(r.c.ready_at, r.c.id)
            .limit(size)
            .with_for_update(skip_locked=True)
        )
    branches = [
        select(r.c.id)
        .where(r.c.status == status, r.c.ready_at <= now)
        .order_by(r.c.ready_at, r.c.id)
        .limit(size)
        .subquery()
        for status in ("sending", "pending")
    ]
    both = union_all(*(select(branch.c.id) for branch in branches)).subquery()
    return select(both.c.id).limit(size)


def claim_query(dialect: str, size: int, now: datetime) -> Select[Any]:
    """The query that selects claimable reminder ids (exposed for ``EXPLAIN`` checks)."""
    return due_ids(dialect, size, now)


# --- the statements, compiled once per dialect ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Statements:
    """The dispatch statements of one dialect and how it takes an instant."""

    dialect: Dialect
    instant: Callable[[datetime], Any]
    fence: Prepared  # (id, token, patient, channel, purpose, at) -> latest consent; no row: not ours any more
    extend: Prepared  # (new until, token, old until): the lease of every row the claim still holds
    sent: Prepared  # (sent_at, provider_id, channel, id, token)
    load: Prepared  # (until, token)
    clinic: Prepared  # (clinic,)
    templates: Prepared  # (clinic,)
    paused: Prepared  # (clinic,)
    claims: dict[int, Prepared] = field(default_factory=dict)  # by batch size: (token, now, until)
    outcomes: dict[tuple[str, ...], Prepared] = field(default_factory=dict)  # by the columns set

    def claim(self, size: int) -> Prepared:
        """The claim ``UPDATE … RETURNING id`` of up to ``size`` rows."""
        found = self.claims.get(size)
        if found is None:
            statement = _claim_statement(self.dialect.name, size)
            found = self.claims[size] = prepare(statement, self.dialect, _CLAIM_ARGS)
        return found

    def outcome(self, keys: tuple[str, ...]) -> Prepared:
        """The fenced ``UPDATE`` setting the columns ``keys``."""
        found = self.outcomes.get(keys)
        if found is None:
            found = self.outcomes[keys] = prepare(_outcome_statement(keys), self.dialect)
        return found


_CLAIM_ARGS = ("c_token", "c_now", "c_until")
_STATEMENTS: dict[tuple[str, str], Statements] = {}


def statements(dialect: Dialect) -> Statements:
    key = (dialect.name, str(dialect.driver))
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = Statements(
            dialect=dialect,
            instant=instant_binder(dialect),
            fence=prepare(_fence_statement(), dialect, ("w_id", "w_token") + _CONSENT_ARGS),
            extend=prepare(_extend_statement(), dialect, ("v_ready_at", "w_token", "w_ready_at")),
            sent=prepare(_sent_statement(), dialect, ("v_sent_at", "v_provider_id", "v_channel", "w_id", "w_token")),
            load=prepare(_load_statement(), dialect, ("c_until", "c_token")),
            clinic=prepare(_clinic_statement(), dialect, ("c_clinic",)),
            templates=prepare(_templates_statement(), dialect, ("c_clinic",)),
            paused=prepare(_paused_statement(), dialect, ("c_clinic",)),
        )
    return found


def _claim_statement(dialect: str, size: int) -> Any:
    """Mark up to ``size`` due rows ``sending`` under a fresh token and lease; return their ids."""
    return (
        update(t_reminder)
        .where(t_reminder.c.id.in_(due_ids(dialect, size, bindparam("c_now")).scalar_subquery()))
        .values(
            status="sending",
            claim_token=bindparam("c_token"),
            claimed_at=bindparam("c_now"),
            ready_at=bindparam("c_until"),
        )
        .returning(t_reminder.c.id)
    )


def _load_statement() -> Any:
    """The rows one claim marked (its token, its lease end) with their patients and visits, in due order.

    ``status = 'sending' AND ready_at = :until`` is an equality range of the ``(status, ready_at)``
    index that holds this claim's rows (and those of any claim with the very same lease end, which
    the token filters out).
    """
    r, p, v = t_reminder, t_patient, t_visit
    return (
        select(
            r.c.id,
            r.c.clinic_id,
            r.c.patient_id,
            r.c.visit_id,
            r.c.kind,
            r.c.purpose,
            r.c.channel,
            r.c.attempts,
            r.c.idempotency_key,
            r.c.payload,
            r.c.expires_at,
            r.c.care_plan_id,
            p.c.family_name,
            p.c.given_name,
            p.c.phone,
            p.c.email,
            p.c.locale,
            p.c.timezone,
            v.c.starts_at,
            v.c.status.label("visit_status"),
            p.c.erased_at,
        )
        .select_from(r.join(p, p.c.id == r.c.patient_id).outerjoin(v, v.c.id == r.c.visit_id))
        .where(r.c.status == "sending", r.c.ready_at == bindparam("c_until"), r.c.claim_token == bindparam("c_token"))
        .order_by(r.c.due_at, r.c.id)
    )


def _clinic_statement() -> Any:
    c = t_clinic
    return select(c.c.name, c.c.quiet_start, c.c.quiet_end).where(c.c.id == bindparam("c_clinic"))


def _templates_statement() -> Any:
    t = t_message_template
    return select(t.c.kind, t.c.channel, t.c.locale, t.c.body, t.c.subject).where(
        t.c.clinic_id == bindparam("c_clinic")
    )


def _paused_statement() -> Any:
    return select(t_clinic_pause.c.purpose).where(
        t_clinic_pause.c.clinic_id == bindparam("c_clinic"), t_clinic_pause.c.resumed_at.is_(None)
    )


_CONSENT_ARGS = ("c_patient", "c_channel", "c_purpose", "c_at")


def _fence_statement() -> Any:
    """Check our claim on one reminder and read the patient's consent and the visit's status, in one statement.

    ``SELECT (latest consent event at or before :at), (status of the reminder's visit) FROM reminder
    WHERE id = :id AND claim_token = :token AND status = 'sending'`` — no row: another dispatcher has taken
    the reminder over; a consent ``NULL``: no consent event yet (the purpose's default applies); a visit
    status ``NULL``: no visit.  The consent sub-query is ``services.consent.has_consent``'s, on the index
    ``(patient_id, channel, purpose, at)``; the visit is read by its primary key, so a visit cancelled while
    its reminder waited in the batch is seen before the send.  It writes nothing: the lease is kept long by
    :func:`_extend_statement`, a batch at a time.
    """
    latest = (
        select(t_consent_event.c.granted)
        .where(
            t_consent_event.c.patient_id == bindparam("c_patient"),
            t_consent_event.c.channel == bindparam("c_channel"),
            t_consent_event.c.purpose == bindparam("c_purpose"),
            t_consent_event.c.at <= bindparam("c_at"),
        )
        .order_by(t_consent_event.c.at.desc(), t_consent_event.c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    visit_status = select(t_visit.c.status).where(t_visit.c.id == t_reminder.c.visit_id).scalar_subquery()
    return select(latest, visit_status).where(
        t_reminder.c.id == bindparam("w_id"),
        t_reminder.c.claim_token == bindparam("w_token"),
        t_reminder.c.status == "sending",
    )


def _extend_statement() -> Any:
    """Move the lease end of every row one claim still holds (its token, its current lease end) to ``:until``.

    ``status = 'sending' AND ready_at = :old`` is an equality range of the ``(status, ready_at)`` index.
    """
    return (
        update(t_reminder)
        .where(
            t_reminder.c.status == "sending",
            t_reminder.c.ready_at == bindparam("w_ready_at"),
            t_reminder.c.claim_token == bindparam("w_token"),
        )
        .values(ready_at=bindparam("v_ready_at"))
    )


def _fenced_update() -> Any:
    return update(t_reminder).where(
        t_reminder.c.id == bindparam("w_id"),
        t_reminder.c.claim_token == bindparam("w_token"),
        t_reminder.c.status == "sending",
    )


def _sent_statement() -> Any:
    """Record a message the sender accepted (fenced by the claim token)."""
    return _fenced_update().values(
        status="sent",
        sent_at=bindparam("v_sent_at"),
        provider_id=bindparam("v_provider_id"),
        channel=bindparam("v_channel"),
        next_attempt_at=None,
        claim_token=None,
    )


def _outcome_statement(keys: tuple[str, ...]) -> Any:
    """The fenced ``UPDATE`` of one set of columns."""
    return _fenced_update().values({key: bindparam(f"v_{key}") for key in keys})


# --- claiming ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class CallCache:
    """What one ``dispatch`` call reads once: clinics and their templates (pauses are re-read per batch)."""

    clinics: dict[int, ClinicInfo] = field(default_factory=dict)
    templates: dict[tuple[int, str, str, str], TemplateText] = field(default_factory=dict)


def claim(runner: Runner, size: int, now: datetime, lease: timedelta, cache: CallCache) -> Batch:
    """Claim up to ``size`` due reminders and load everything needed to check and render them.

    The claim is one short write transaction; the claimed rows are then read outside the write lock.  When
    reading them fails (the connection dropped), they are handed back at once (best effort), so the next
    call need not wait for their lease.
    """
    token = uuid.uuid4().hex
    sql = statements(runner.dialect)
    marker = sql.claim(size)
    until = sql.instant(now + lease)
    claim_args = marker.args((token, sql.instant(now), until))

    batch = Batch(token, [], {}, cache.clinics, {}, set(), cache.templates, now + lease)
    if runner.run(_mark, marker, claim_args):
        # the rows are ours now (token + lease): reading them needs no write lock
        try:
            runner.run(_load, sql, batch, until, cache, write=False)
        except BaseException:
            release(runner, token)
            raise
    return batch


def _mark(cursor: Any, claim: Prepared, args: Any) -> int:
    """Run the claim ``UPDATE``; how many rows it marked."""
    cursor.execute(claim.sql, args)
    return len(cursor.fetchall())


def _load(cursor: Any, sql: Statements, batch: Batch, until: Any, cache: CallCache) -> None:
    """The claimed reminders with their patients and visits (one query), plus pauses, clinics and templates."""
    load = sql.load
    cursor.execute(load.sql, load.args((until, batch.token)))
    items, patients, visits = batch.items, batch.patients, batch.visits
    for (
        rid,
        clinic_id,
        patient_id,
        visit_id,
        kind,
        purpose,
        channel,
        attempts,
        key,
        payload,
        expires_at,
        care_plan_id,
        family_name,
        given_name,
        phone,
        email,
        locale,
        timezone,
        starts_at,
        visit_status,
        erased_at,
    ) in load.rows(cursor.fetchall()):
        items.append(
            Item(
                id=rid,
                clinic_id=clinic_id,
                patient_id=patient_id,
                visit_id=visit_id,
                kind=kind,
                purpose=purpose,
                channel=channel,
                attempts=attempts,
                idempotency_key=key,
                payload=dict(payload or {}),
                expires_at=expires_at,
                has_care_plan=care_plan_id is not None,
            )
        )
        if patient_id not in patients:
            patients[patient_id] = PatientInfo(
                display_name(family_name, given_name, locale), phone, email, locale, timezone, erased_at is not None
            )
        if visit_id is not None:
            visits[visit_id] = (starts_at, visit_status)
    clinic_ids = sorted({item.clinic_id for item in items})
    for clinic_id in clinic_ids:
        if clinic_id not in cache.clinics:
            cursor.execute(sql.clinic.sql, sql.clinic.args((clinic_id,)))
            ((name, quiet_start, quiet_end),) = sql.clinic.rows(cursor.fetchall())
            cache.clinics[clinic_id] = ClinicInfo(name, quiet_start, quiet_end)
            cursor.execute(sql.templates.sql, sql.templates.args((clinic_id,)))
            for kind, channel, locale, body, subject in sql.templates.rows(cursor.fetchall()):
                cache.templates[(clinic_id, kind, channel, locale)] = TemplateText(body=body, subject=subject)
        cursor.execute(sql.paused.sql, sql.paused.args((clinic_id,)))
        for (purpose,) in cursor.fetchall():
            batch.paused.add((clinic_id, purpose))


# --- fenced outcomes ----------------------------------------------------------------------------------------------


def write(
    sql: Statements, token: str, item: Item, outcome: Outcome, instant: Callable[[datetime], Any] | None = None
) -> Write:
    """The fenced ``UPDATE`` recording ``outcome`` and its driver parameters."""
    values = outcome.values
    if outcome.kind == "sent":
        sent = sql.sent
        bind = instant or sql.instant
        return sent.sql, sent.args((bind(values["sent_at"]), values["provider_id"], values["channel"], item.id, token))
    keys = tuple(sorted(values))
    prepared = sql.outcome(keys)
    params = {f"v_{key}": values[key] for key in keys}
    params["w_id"], params["w_token"] = item.id, token
    return prepared.sql, prepared.parameters(params)


def release(runner: Runner, token: str, ids: Sequence[int] | None = None) -> None:
    """Hand claimed rows back (pending, due again) after an error stopped the batch (best effort).

    ``ids``: the rows not reached (``None``: every row still held under ``token``).  Runs in a transaction of its
    own on a fresh connection; a failure is logged, not raised: the lease hands the rows over anyway.
    """
    r = t_reminder
    fenced = [r.c.claim_token == token, r.c.status == "sending"]
    if ids is not None:
        fenced.append(r.c.id.in_(ids))
    try:
        with runner.transaction() as session:
            session.execute(
                update(r)
                .where(*fenced)
                .values(status="pending", claim_token=None, ready_at=func.coalesce(r.c.next_attempt_at, r.c.due_at))
            )
    except Exception:  # noqa: BLE001 - their lease expires anyway; never mask the first error
        log.warning("could not hand back claimed reminders; their lease will expire")


def record(cursor: Any, change: Write) -> bool:
    """Run one fenced outcome ``UPDATE``; whether it changed the row."""
    cursor.execute(*change)
    return bool(cursor.rowcount == 1)


def record_alone(runner: Runner, change: Write) -> bool:
    """Run one fenced outcome ``UPDATE`` in a transaction of its own on a fresh connection (after a step failed)."""
    with runner.transaction() as session:
        driver = session.connection().connection.driver_connection
        assert driver is not None
        return record(driver.cursor(), change)
