"""Dispatching due reminders: claim, check, render, send, record — each outcome in its own short transaction.

For every claimed reminder, in this order (see ``docs/reminders.md``) — after renewing the claim
(a reminder another dispatcher took over is skipped) and cancelling one whose visit was cancelled:

0. the patient was erased (``crm.patients.erase``) → ``suppressed`` ``"erased"``, whatever the consent
1. consent for the channel and purpose at ``now``, re-read right before sending → ``suppressed`` ``"no_consent"``
2. an address on that channel → ``suppressed`` ``"no_address"``
3. SMS to a number phonenumbers types ``FIXED_LINE`` → ``suppressed`` ``"not_mobile"``
4. quiet hours in the patient's time zone → stays ``pending``, ``next_attempt_at`` = the end of quiet hours (deferred)
5. clinic paused for the purpose → stays ``pending`` (held), goes out after ``resume``
6. ``expires_at`` reached (the visit started, the greeting's day is over) → ``suppressed`` ``"expired"``
7. render in the patient's locale and time zone and ``sender.send(message)``

Claims: one short transaction marks up to a batch of due rows ``sending`` with a fresh claim
token and a lease (``ready_at = now + lease``).  PostgreSQL uses ``FOR UPDATE SKIP LOCKED``;
SQLite serialises claims with the ``BEGIN IMMEDIATE`` write lock.  A row whose lease expired is
claimed again by whoever comes next, with the same idempotency key.  Every outcome is written
with ``WHERE id = :id AND claim_token = :token`` so a dispatcher whose lease was taken over
changes nothing.  No transaction is open while ``sender.send`` runs.

Cost: the claimed rows (with patients and visits) are read in one query after the claim commits,
so SQLite's write lock covers the claim ``UPDATE`` only.  Per message, one transaction records the
previous message's outcome and renews this one's claim while re-reading consent (one ``UPDATE …
RETURNING``); the checks that need no database (2–6 above) and the statements' parameters are
worked out before it, and the message is rendered after its ``COMMIT`` — the result is the same as
checking in the order above.  Statements are compiled once per dialect and run on the DB-API
cursor of one connection per ``dispatch`` call (:mod:`._prepared`).
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import phonenumbers
from sqlalchemy import (
    BindParameter,
    Connection,
    Engine,
    Select,
    bindparam,
    func,
    literal_column,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session, sessionmaker

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.message import Attachment, OutboundMessage, calendar_attachment
from clinic_crm.messaging.render import TemplateText, locale_candidates, message_fields, render_message
from clinic_crm.models.patients import display_name
from clinic_crm.services._common import claim_run_clock
from clinic_crm.services.consent import DEFAULT_CONSENT
from clinic_crm.services.reminders._prepared import Prepared, instant_binder, prepare
from clinic_crm.services.reminders._tables import (
    t_clinic,
    t_clinic_pause,
    t_consent_event,
    t_message_template,
    t_patient,
    t_reminder,
    t_visit,
)
from clinic_crm.services.reminders.quiet import in_quiet_hours, quiet_hours_end
from clinic_crm.values import is_fixed_line

__all__ = ["DispatchReport", "RetryPolicy", "dispatch_due", "HOLD_RECHECK", "DEFAULT_BATCH_SIZE"]

log = logging.getLogger("clinic_crm.reminders")

#: How long a held reminder (clinic paused) waits before it is looked at again; ``resume`` makes it due at once.
HOLD_RECHECK = timedelta(minutes=5)
#: Rows claimed per claim transaction when ``limit`` does not ask for fewer.
DEFAULT_BATCH_SIZE = 100


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When a retryable delivery failure is tried again.

    Attributes:
        max_attempts: attempts after which the reminder ends ``failed`` (default 5).
        base: the wait after the first failure; doubled after each further one.
        cap: the longest wait.
    """

    max_attempts: int = 5
    base: timedelta = timedelta(minutes=5)
    cap: timedelta = timedelta(hours=6)

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed attempt: ``base · 2^(attempts−1)``, at most ``cap``."""
        delay: timedelta = self.base * (2 ** max(attempts - 1, 0))
        return min(delay, self.cap)


@dataclass(slots=True)
class DispatchReport:
    """What one ``dispatch`` call did.

    Attributes:
        sent: messages the sender accepted (and whose outcome this call recorded).
        suppressed: reminders ended ``suppressed``; ``suppressed_by_reason`` splits them by reason.
        deferred: reminders left pending until their quiet hours end.
        held: reminders left pending because their clinic is paused for their purpose.
        failed: delivery attempts that failed in this call, retried later or not.
        gave_up: reminders that ended ``failed`` in this call (permanent error or too many attempts).
        cancelled: reminders cancelled because their visit was cancelled (or missed) after they were claimed.
        claimed: reminders claimed by this call.
        fenced: outcomes not recorded because another dispatcher had taken the reminder over.
    """

    sent: int = 0
    suppressed: int = 0
    deferred: int = 0
    held: int = 0
    failed: int = 0
    gave_up: int = 0
    cancelled: int = 0
    claimed: int = 0
    fenced: int = 0
    suppressed_by_reason: dict[str, int] = field(default_factory=dict)

    def merge(self, other: DispatchReport) -> DispatchReport:
        """Add ``other``'s counts to this report (for several dispatch runs) and return it."""
        for name in ("sent", "suppressed", "deferred", "held", "failed", "gave_up", "cancelled", "claimed", "fenced"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, count in other.suppressed_by_reason.items():
            self.suppressed_by_reason[reason] = self.suppressed_by_reason.get(reason, 0) + count
        return self


# --- the snapshot a claim loads -------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: built per message, and a frozen __init__ costs more
class _Item:
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
class _PatientInfo:
    name: str
    phone: str | None
    email: str | None
    locale: str
    timezone: str
    erased: bool = False  # erased patients are never contacted (suppressed "erased")


@dataclass(frozen=True, slots=True)
class _ClinicInfo:
    name: str
    quiet_start: time
    quiet_end: time


@dataclass(slots=True)
class _Batch:
    token: str
    items: list[_Item]
    patients: dict[int, _PatientInfo]
    clinics: dict[int, _ClinicInfo]
    visits: dict[int, tuple[datetime, str]]
    paused: set[tuple[int, str]]
    templates: dict[tuple[int, str, str, str], TemplateText]


# --- outcomes ---------------------------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: built per message, and a frozen __init__ costs more
class _Outcome:
    """A change to record for one claimed reminder, fenced by the claim token."""

    kind: str  # sent | suppressed | deferred | held | retry | failed | cancelled
    values: dict[str, Any]
    reason: str | None = None


def _suppress(reason: str, channel: str | None) -> _Outcome:
    values: dict[str, Any] = {"status": "suppressed", "suppressed_reason": reason, "claim_token": None}
    if channel is not None:
        values["channel"] = channel
    return _Outcome("suppressed", values, reason)


def dispatch_due(
    factory: sessionmaker[Session],
    sender: Any,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    lease: timedelta = timedelta(minutes=10),
    policy: RetryPolicy | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    guard: Callable[[], AbstractContextManager[object]] = nullcontext,
) -> DispatchReport:
    """Send every due reminder (or up to ``limit``) through ``sender``; commit each outcome at once.

    Args:
        factory: makes the sessions; each claim and each outcome is its own short transaction.
        sender: has ``send(OutboundMessage) -> str`` (the provider id), raising ``DeliveryError``.
        now: the instant to dispatch at (default: the clock, read afresh at every step).
        limit: the most reminders this call claims (``None``: until nothing is due).
        lease: how long a claim holds before another dispatcher may take the reminder over.
        policy: retry/backoff settings (default :class:`RetryPolicy`).
        batch_size: rows claimed per claim transaction.
        guard: a lock around every transaction (the facade's in-memory SQLite lock).

    Returns:
        A :class:`DispatchReport`.

    Raises:
        ValidationError: a malformed argument (nothing claimed).
    """
    clock = claim_run_clock(now, limit=limit, lease=lease, batch_size=batch_size)
    if not callable(getattr(sender, "send", None)):
        raise ValidationError("sender must have a send(message) method", field="sender")
    policy = policy or RetryPolicy()
    report = DispatchReport()
    cache = _CallCache()
    remaining = limit
    with _Steps(factory, guard) as steps:
        while remaining is None or remaining > 0:
            size = batch_size if remaining is None else min(batch_size, remaining)
            batch = _claim_on(steps, size, clock(), lease, cache)
            if not batch.items:
                break
            report.claimed += len(batch.items)
            if remaining is not None:
                remaining -= len(batch.items)
            _process_on(steps, sender, batch, clock, policy, report, lease)
    return report


@contextmanager
def _transaction(
    factory: sessionmaker[Session], guard: Callable[[], AbstractContextManager[object]]
) -> Iterator[Session]:
    with guard(), factory() as session, session.begin():
        yield session


T = TypeVar("T")


class _Steps:
    """One DB-API connection for a dispatch call, with one short transaction per step (:meth:`run`).

    When the factory is bound to an ``Engine`` the call keeps one pooled connection and controls
    transactions on the DB-API connection itself (SQLite: the same ``BEGIN IMMEDIATE`` as ``clinic_crm.db``'s
    engines); every statement runs on its raw cursor (see :mod:`._prepared`), since SQLAlchemy's
    per-transaction and per-statement bookkeeping would cost more than the statements.  A factory
    bound to anything else gets a session transaction of that factory per step.
    """

    def __init__(self, factory: sessionmaker[Session], guard: Callable[[], AbstractContextManager[object]]) -> None:
        self.factory = factory
        self.guard = guard
        bind = factory.kw.get("bind")
        if bind is None:
            raise ValidationError("the session factory must be bound to an engine", field="factory")
        self.dialect: Dialect = bind.dialect
        self._engine = bind if isinstance(bind, Engine) else None
        self._conn: Connection | None = None
        self._raw: Any = None
        self._cursor: Any = None
        self._locked = guard is not nullcontext
        self._begin = "BEGIN IMMEDIATE" if self.dialect.name == "sqlite" else None
        self.sql = _statements(self.dialect)

    def __enter__(self) -> _Steps:
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

    def run(self, work: Callable[..., T], *args: Any, write: bool = True) -> T:
        """Run ``work(cursor, *args)`` in one transaction and commit it; roll back and re-raise on any error.

        ``write=False``: a read (SQLite: no write lock is taken).
        """
        raw = self._raw
        if raw is None:
            with _transaction(self.factory, self.guard) as session:
                driver = session.connection().connection.driver_connection
                assert driver is not None
                return work(driver.cursor(), *args)
        if self._locked:
            with self.guard():
                return self._run(raw, work, args, write)
        return self._run(raw, work, args, write)

    def _run(self, raw: Any, work: Callable[..., T], args: tuple[Any, ...], write: bool) -> T:
        cursor = self._cursor
        if write and self._begin is not None:
            cursor.execute(self._begin)
        try:
            result = work(cursor, *args)
        except BaseException:
            raw.rollback()
            raise
        raw.commit()
        return result


def _due_ids(dialect: str, size: int, now: datetime | BindParameter[Any]) -> Select[Any]:
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
    return _due_ids(dialect, size, now)


# --- the statements, compiled once per dialect ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Statements:
    """The dispatch statements of one dialect and how it takes an instant."""

    dialect: Dialect
    instant: Callable[[datetime], Any]
    renew: Prepared  # (until, id, token, patient, channel, purpose, at) -> RETURNING latest consent
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
_STATEMENTS: dict[tuple[str, str], _Statements] = {}


def _statements(dialect: Dialect) -> _Statements:
    key = (dialect.name, str(dialect.driver))
    found = _STATEMENTS.get(key)
    if found is None:
        found = _STATEMENTS[key] = _Statements(
            dialect=dialect,
            instant=instant_binder(dialect),
            renew=prepare(_renew_statement(), dialect, ("v_ready_at", "w_id", "w_token") + _CONSENT_ARGS),
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
        .where(t_reminder.c.id.in_(_due_ids(dialect, size, bindparam("c_now")).scalar_subquery()))
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


def _renew_statement() -> Any:
    """Renew our claim on one reminder and read the patient's consent, in one statement.

    ``UPDATE reminder SET ready_at = :until WHERE id = :id AND claim_token = :token AND status = 'sending'
    RETURNING (latest consent event at or before :at)`` — no row: another dispatcher has taken the
    reminder over; a row holding ``NULL``: no consent event yet (the purpose's default applies).
    The consent sub-query is ``services.consent.has_consent``'s, on the index ``(patient_id, channel,
    purpose, at)``.
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
    return (
        update(t_reminder)
        .where(
            t_reminder.c.id == bindparam("w_id"),
            t_reminder.c.claim_token == bindparam("w_token"),
            t_reminder.c.status == "sending",
        )
        .values(ready_at=bindparam("v_ready_at"))
        .returning(latest)
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
class _CallCache:
    """What one ``dispatch`` call reads once: clinics and their templates (pauses are re-read per batch)."""

    clinics: dict[int, _ClinicInfo] = field(default_factory=dict)
    templates: dict[tuple[int, str, str, str], TemplateText] = field(default_factory=dict)


def _claim(
    factory: sessionmaker[Session],
    guard: Callable[[], AbstractContextManager[object]],
    size: int,
    now: datetime,
    lease: timedelta,
    cache: _CallCache | None = None,
) -> _Batch:
    """Claim up to ``size`` due reminders and load everything needed to check and render them."""
    with _Steps(factory, guard) as steps:
        return _claim_on(steps, size, now, lease, cache if cache is not None else _CallCache())


def _claim_on(steps: _Steps, size: int, now: datetime, lease: timedelta, cache: _CallCache) -> _Batch:
    """Claim (one short write transaction), then load the claimed rows outside the write lock."""
    token = uuid.uuid4().hex
    sql = steps.sql
    claim = sql.claim(size)
    until = sql.instant(now + lease)
    claim_args = claim.args((token, sql.instant(now), until))

    batch = _Batch(token, [], {}, cache.clinics, {}, set(), cache.templates)
    if steps.run(_mark, claim, claim_args):
        # the rows are ours now (token + lease): reading them needs no write lock
        steps.run(_load, sql, batch, until, cache, write=False)
    return batch


def _mark(cursor: Any, claim: Prepared, args: Any) -> int:
    """Run the claim ``UPDATE``; how many rows it marked."""
    cursor.execute(claim.sql, args)
    return len(cursor.fetchall())


def _load(cursor: Any, sql: _Statements, batch: _Batch, until: Any, cache: _CallCache) -> None:
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
            _Item(
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
            patients[patient_id] = _PatientInfo(
                display_name(family_name, given_name, locale), phone, email, locale, timezone, erased_at is not None
            )
        if visit_id is not None:
            visits[visit_id] = (starts_at, visit_status)
    clinic_ids = sorted({item.clinic_id for item in items})
    for clinic_id in clinic_ids:
        if clinic_id not in cache.clinics:
            cursor.execute(sql.clinic.sql, sql.clinic.args((clinic_id,)))
            ((name, quiet_start, quiet_end),) = sql.clinic.rows(cursor.fetchall())
            cache.clinics[clinic_id] = _ClinicInfo(name, quiet_start, quiet_end)
            cursor.execute(sql.templates.sql, sql.templates.args((clinic_id,)))
            for kind, channel, locale, body, subject in sql.templates.rows(cursor.fetchall()):
                cache.templates[(clinic_id, kind, channel, locale)] = TemplateText(body=body, subject=subject)
        cursor.execute(sql.paused.sql, sql.paused.args((clinic_id,)))
        for (purpose,) in cursor.fetchall():
            batch.paused.add((clinic_id, purpose))


# --- processing a batch ---------------------------------------------------------------------------------------------


@dataclass(slots=True)  # not frozen: built per message, and a frozen __init__ costs more
class _Check:
    """What the checks that need no database say about one claimed reminder at ``now``.

    Attributes:
        channel: the channel it goes out on.
        address: the patient's address on that channel.
        cancelled: its visit was cancelled (checked first, right after the claim is renewed).
        outcome: the first failing check after consent (address, not-mobile, quiet hours, pause,
            expiry), or ``None``: it may be sent if consent allows.
    """

    channel: str
    address: str | None
    cancelled: bool
    outcome: _Outcome | None


_CANCELLED = _Outcome("cancelled", {"status": "cancelled", "claim_token": None})


def _check(batch: _Batch, item: _Item, now: datetime) -> _Check:
    """Every check of the contract's order that reads no database (consent is re-read in the write)."""
    patient = batch.patients[item.patient_id]
    channel = item.channel or ("sms" if patient.phone else "email")
    address = patient.phone if channel == "sms" else patient.email
    if item.visit_id is not None and batch.visits[item.visit_id][1] in ("cancelled", "no_show"):
        # the visit was cancelled after this reminder was claimed (cancel_visit_reminders skips claimed rows)
        return _Check(channel, address, True, None)
    outcome: _Outcome | None = None
    if patient.erased:
        outcome = _suppress("erased", item.channel)
    elif not address:
        outcome = _suppress("no_address", item.channel)
    elif channel == "sms" and fixed_line(address):
        outcome = _suppress("not_mobile", channel)
    else:
        clinic = batch.clinics[item.clinic_id]
        if in_quiet_hours(now, patient.timezone, clinic.quiet_start, clinic.quiet_end):
            until = quiet_hours_end(now, patient.timezone, clinic.quiet_start, clinic.quiet_end)
            outcome = _Outcome(
                "deferred", {"status": "pending", "next_attempt_at": until, "ready_at": until, "claim_token": None}
            )
        elif (item.clinic_id, item.purpose) in batch.paused:
            outcome = _Outcome("held", {"status": "pending", "ready_at": now + HOLD_RECHECK, "claim_token": None})
        elif item.expires_at is not None and now >= item.expires_at:
            outcome = _suppress("expired", channel)
    return _Check(channel, address, False, outcome)


def _decide(check: _Check, item: _Item, granted: bool | None) -> _Outcome | None:
    """The outcome once the claim is renewed and consent read (``granted``: the latest event, if any).

    ``None``: send the message.
    """
    if check.cancelled:
        return _CANCELLED
    if check.outcome is not None and check.outcome.reason == "erased":
        return check.outcome  # an erased patient is never contacted, whatever their consent says
    allowed = DEFAULT_CONSENT[item.purpose] if granted is None else granted
    if not allowed:
        return _suppress("no_consent", check.channel)
    return check.outcome


def _process(
    factory: sessionmaker[Session],
    guard: Callable[[], AbstractContextManager[object]],
    sender: Any,
    batch: _Batch,
    clock: Callable[[], datetime],
    policy: RetryPolicy,
    report: DispatchReport,
    *,
    lease: timedelta = timedelta(minutes=10),
) -> None:
    """Check, send and record every item of a claimed batch (on a connection of its own)."""
    with _Steps(factory, guard) as steps:
        _process_on(steps, sender, batch, clock, policy, report, lease)


_Write = tuple[str, Any]  # (SQL, driver parameters) of one fenced outcome UPDATE


class _Instants:
    """The driver form of instants, remembered for one batch (``now`` repeats when the caller fixed it)."""

    __slots__ = ("_bind", "_seen")

    def __init__(self, bind: Callable[[datetime], Any]) -> None:
        self._bind = bind
        self._seen: dict[datetime, Any] = {}

    def __call__(self, value: datetime) -> Any:
        found = self._seen.get(value)
        if found is None:
            found = self._seen[value] = self._bind(value)
        return found


def _process_on(
    steps: _Steps,
    sender: Any,
    batch: _Batch,
    clock: Callable[[], datetime],
    policy: RetryPolicy,
    report: DispatchReport,
    lease: timedelta,
) -> None:
    """Check, send and record every item of a claimed batch.

    One short transaction per message writes the outcome of the previous message (sent or not) and
    renews the claim on this one while re-reading its patient's consent; a reminder another
    dispatcher took over meanwhile is skipped (counted ``fenced``), so a stale dispatcher repeats at
    most the one message it was sending, and a slow batch keeps its tail.  The outcome of a sent
    message is thus committed before the next send.  Everything that reads no database (address,
    not-mobile, quiet hours, pause, expiry, and the parameters of both statements) is worked out
    before the transaction, and the message is rendered after it, so SQLite's write lock is held
    for the two statements only.  No transaction is open while ``sender.send`` runs.
    """
    sql = steps.sql
    instant = _Instants(sql.instant)
    renew = sql.renew
    token = batch.token
    done = 0
    unwritten: tuple[_Item, _Outcome, _Write] | None = None
    try:
        for item in batch.items:
            now = clock()
            check = _check(batch, item, now)
            renew_args = renew.args(
                (instant(now + lease), item.id, token, item.patient_id, check.channel, item.purpose, instant(now))
            )
            previous = unwritten
            recorded_previous, outcome, held, recorded = steps.run(
                _step, sql, token, item, check, None if previous is None else previous[2], renew_args
            )
            if previous is not None:
                unwritten = None
                _count(report, previous[0], previous[1], recorded_previous)
            if not held:
                report.fenced += 1
                log.warning("reminder %s was taken over by another dispatcher; not sent", item.id)
            elif outcome is not None:
                _count(report, item, outcome, recorded)
            else:
                message = _message(batch, item, check)
                done += 1
                result = _deliver(sender, message, item, clock(), policy)
                unwritten = (item, result, _write(sql, token, item, result, instant))
                continue
            done += 1
        if unwritten is not None:
            last = unwritten
            recorded = steps.run(_record, last[2])
            unwritten = None
            _count(report, last[0], last[1], recorded)
    finally:
        if unwritten is not None:  # the next transaction failed: still try to record what was sent
            _record_again(steps, *unwritten, report)
        leftover = [item.id for item in batch.items[done:]]
        if leftover:
            _release(steps.factory, steps.guard, token, leftover)


def _step(
    cursor: Any,
    sql: _Statements,
    token: str,
    item: _Item,
    check: _Check,
    previous: _Write | None,
    renew_args: Any,
) -> tuple[bool, _Outcome | None, bool, bool]:
    """One message's transaction: record the previous outcome, renew the claim and read consent, decide.

    Returns (previous outcome recorded, this item's outcome or ``None`` to send it, claim still ours,
    this outcome recorded).
    """
    recorded_previous = False
    if previous is not None:
        cursor.execute(*previous)
        recorded_previous = cursor.rowcount == 1
    cursor.execute(sql.renew.sql, renew_args)
    rows = cursor.fetchall()  # (not fetchone: the statement runs to its end before COMMIT)
    if not rows:
        return recorded_previous, None, False, False
    granted = rows[0][0]
    outcome = _decide(check, item, None if granted is None else bool(granted))
    if outcome is None:
        return recorded_previous, None, True, False
    cursor.execute(*_write(sql, token, item, outcome))
    return recorded_previous, outcome, True, cursor.rowcount == 1


def _record(cursor: Any, write: _Write) -> bool:
    """Run one fenced outcome ``UPDATE``; whether it changed the row."""
    cursor.execute(*write)
    return bool(cursor.rowcount == 1)


def _record_again(steps: _Steps, item: _Item, outcome: _Outcome, write: _Write, report: DispatchReport) -> None:
    """Record an outcome in a transaction of its own after a step failed (best effort)."""
    try:
        with _transaction(steps.factory, steps.guard) as session:
            driver = session.connection().connection.driver_connection
            assert driver is not None
            cursor = driver.cursor()
            cursor.execute(*write)
            recorded = cursor.rowcount == 1
        _count(report, item, outcome, recorded)
    except Exception:  # noqa: BLE001 - the lease will hand it over; never mask the first error
        log.exception("could not record the outcome of reminder %s", item.id)


def _write(
    sql: _Statements, token: str, item: _Item, outcome: _Outcome, instant: Callable[[datetime], Any] | None = None
) -> _Write:
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


def _count(report: DispatchReport, item: _Item, outcome: _Outcome, recorded: bool) -> None:
    """Count one outcome in the report (``recorded``: the fenced write changed the row)."""
    kind = outcome.kind
    if kind in ("retry", "failed"):
        report.failed += 1  # the attempt failed whether or not we still own the reminder
    if not recorded:
        report.fenced += 1
        log.warning("reminder %s was taken over by another dispatcher; outcome %s not recorded", item.id, kind)
        return
    if kind == "sent":
        report.sent += 1
    elif kind == "suppressed":
        report.suppressed += 1
        assert outcome.reason is not None
        report.suppressed_by_reason[outcome.reason] = report.suppressed_by_reason.get(outcome.reason, 0) + 1
    elif kind == "deferred":
        report.deferred += 1
    elif kind == "held":
        report.held += 1
    elif kind == "failed":
        report.gave_up += 1
    elif kind == "cancelled":
        report.cancelled += 1


def _message(batch: _Batch, item: _Item, check: _Check) -> OutboundMessage:
    """Render the message of a reminder that passed every check."""
    patient = batch.patients[item.patient_id]
    channel = check.channel
    assert check.address is not None
    fields = message_fields(
        name=patient.name,
        clinic=batch.clinics[item.clinic_id].name,
        locale=patient.locale,
        timezone=patient.timezone,
        channel=channel,
        visit_at=batch.visits[item.visit_id][0] if item.visit_id is not None else _instant(item.payload.get("date_at")),
        url=_text(item.payload.get("url")),
        survey=_text(item.payload.get("survey_name")),
        notice=_text(item.payload.get("notice")),
        event=_event(item.payload),
    )
    rendered = render_message(
        kind=item.kind,
        channel=channel,
        locale=patient.locale,
        purpose=item.purpose,
        fields=fields,
        fallback=_fallback(item),
        override=_override(batch, item, channel, patient.locale),
    )
    return OutboundMessage(
        idempotency_key=item.idempotency_key,
        reminder_id=item.id,
        patient_id=item.patient_id,
        channel=channel,
        to=check.address,
        subject=rendered.subject,
        body=rendered.body,
        locale=patient.locale,
        attachments=_attachments(item.payload, channel),
    )


@lru_cache(maxsize=65536)
def fixed_line(e164: str) -> bool:
    """``values.is_fixed_line`` without re-parsing: an E.164 string is split at its (prefix-free) country code.

    A number whose national part matches no fixed-line pattern of its country code's regions cannot be
    typed ``FIXED_LINE`` (phonenumbers tests that pattern before answering ``FIXED_LINE``), so one
    pattern match answers for most mobiles; any other number goes through ``number_type``.  Numbers
    whose national part starts with 0 (Italian land lines) go through the full parser.
    """
    digits = e164[1:]
    if e164.startswith("+") and digits.isdigit():
        for size in (1, 2, 3):
            code = int(digits[:size])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                national = digits[size:]
                if national and national[0] != "0":
                    if not any(_matches(desc, national) for desc in _fixed_line_descs(code)):
                        return False
                    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
                    return bool(phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE)
                break
    return is_fixed_line(e164)


@lru_cache(maxsize=512)
def _fixed_line_descs(code: int) -> tuple[Any, ...]:
    """The fixed-line descriptions of every region (or the non-geographic entity) of a country code.

    ``None`` stands for a region whose metadata is missing: it never rules a number out.
    """
    descs: list[Any] = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE[code]:
        if region == phonenumbers.REGION_CODE_FOR_NON_GEO_ENTITY:
            metadata = phonenumbers.PhoneMetadata.metadata_for_nongeo_region(code, None)
        else:
            metadata = phonenumbers.PhoneMetadata.metadata_for_region(region.upper(), None)
        descs.append(None if metadata is None else _Pattern.of(metadata.fixed_line))
    return tuple(descs)


@dataclass(frozen=True, slots=True)
class _Pattern:
    lengths: frozenset[int]
    pattern: re.Pattern[str] | None

    @staticmethod
    def of(desc: Any) -> _Pattern:
        if desc is None or not desc.national_number_pattern:
            return _Pattern(frozenset(), None)
        return _Pattern(frozenset(desc.possible_length or ()), re.compile(desc.national_number_pattern))


def _matches(desc: _Pattern | None, national: str) -> bool:
    """Whether ``national`` may match a fixed-line description (``True`` when unsure)."""
    if desc is None:
        return True
    if desc.pattern is None:
        return False
    if desc.lengths and len(national) not in desc.lengths:
        return False
    return desc.pattern.fullmatch(national) is not None


def _release(
    factory: sessionmaker[Session],
    guard: Callable[[], AbstractContextManager[object]],
    token: str,
    ids: Sequence[int],
) -> None:
    """Hand unprocessed claimed rows back (pending, due again) after an error stopped the batch."""
    try:
        with _transaction(factory, guard) as session:
            session.execute(
                update(t_reminder)
                .where(t_reminder.c.id.in_(ids), t_reminder.c.claim_token == token, t_reminder.c.status == "sending")
                .values(
                    status="pending",
                    claim_token=None,
                    ready_at=func.coalesce(t_reminder.c.next_attempt_at, t_reminder.c.due_at),
                )
            )
    except Exception:  # noqa: BLE001 - their lease expires anyway
        log.exception("could not release %d claimed reminders; their lease will expire", len(ids))


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _instant(value: object) -> datetime | None:
    """The ``{date}``/``{time}`` instant of a reminder without a visit: ``payload["date_at"]`` (ISO, aware)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def _event(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The event snapshot an event reminder carries (title, start, location), else ``None``."""
    event = payload.get("event")
    return event if isinstance(event, dict) else None


def _attachments(payload: dict[str, Any], channel: str) -> tuple[Attachment, ...]:
    """An e-mail about an event carries its ``.ics`` (stored in the payload when the reminder was made)."""
    ics = payload.get("ics")
    return (calendar_attachment(ics),) if channel == "email" and isinstance(ics, str) else ()


def _fallback(item: _Item) -> str:
    template = item.payload.get("template")
    if isinstance(template, str):
        return template
    if item.has_care_plan:
        return "recall"
    if item.visit_id is not None:
        return "appointment"
    return "default"


def _override(batch: _Batch, item: _Item, channel: str, locale: str) -> TemplateText | None:
    if not batch.templates:
        return None
    for candidate in locale_candidates(locale):
        found = batch.templates.get((item.clinic_id, item.kind, channel, candidate))
        if found is not None:
            return found
    return None


def _deliver(sender: Any, message: OutboundMessage, item: _Item, now: datetime, policy: RetryPolicy) -> _Outcome:
    """Call the sender (no transaction open) and turn what happened into an outcome."""
    try:
        provider_id = sender.send(message)
    except DeliveryError as exc:
        return _failure(item, now, policy, retryable=exc.retryable, error=exc.stored_text())
    except Exception as exc:  # noqa: BLE001 - a broken sender must not stop the batch; treated as retryable
        log.warning("sender raised %s for reminder %s; will retry", type(exc).__name__, item.id)
        return _failure(item, now, policy, retryable=True, error=f"{type(exc).__name__} raised by the sender")
    return _Outcome(
        "sent",
        {
            "status": "sent",
            "sent_at": now,
            "provider_id": str(provider_id)[:200] if provider_id is not None else None,
            "channel": message.channel,
            "next_attempt_at": None,
            "claim_token": None,
        },
    )


def _failure(item: _Item, now: datetime, policy: RetryPolicy, *, retryable: bool, error: str) -> _Outcome:
    attempts = item.attempts + 1
    if retryable and attempts < policy.max_attempts:
        retry_at = now + policy.delay(attempts)
        log.info("reminder %s: attempt %d failed, retry at %s", item.id, attempts, retry_at.isoformat())
        return _Outcome(
            "retry",
            {
                "status": "pending",
                "attempts": attempts,
                "next_attempt_at": retry_at,
                "ready_at": retry_at,
                "last_error": error,
                "claim_token": None,
            },
        )
    log.info("reminder %s: attempt %d failed; giving up", item.id, attempts)
    return _Outcome("failed", {"status": "failed", "attempts": attempts, "last_error": error, "claim_token": None})
