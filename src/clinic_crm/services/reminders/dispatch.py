"""Dispatching due reminders: claim, check, render, send, record — each outcome in its own short transaction.

For every claimed reminder, in this order (see ``docs/reminders.md``) — after renewing the claim
(a reminder another dispatcher took over is skipped) and cancelling one whose visit was cancelled:

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
changes nothing.  No transaction is open while ``sender.send`` runs.  The per-message statements
are compiled once per dialect and run on the DB-API cursor (:mod:`._prepared`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

import phonenumbers
from sqlalchemy import Connection, Engine, Select, bindparam, func, select, union_all, update
from sqlalchemy.orm import Session, sessionmaker

from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.message import OutboundMessage
from clinic_crm.messaging.render import TemplateText, locale_candidates, message_fields, render_message
from clinic_crm.models.patients import display_name
from clinic_crm.services.consent import DEFAULT_CONSENT
from clinic_crm.services.reminders._prepared import Prepared, prepare
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
from clinic_crm.values import aware, is_fixed_line, utcnow

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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class _PatientInfo:
    name: str
    phone: str | None
    email: str | None
    locale: str
    timezone: str


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


@dataclass(frozen=True, slots=True)
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


@dataclass(frozen=True, slots=True)
class _Send:
    message: OutboundMessage


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
    fixed = None if now is None else aware(now, "now")
    clock: Callable[[], datetime] = (lambda: fixed) if fixed is not None else utcnow  # noqa: E731
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError("limit must be None or a non-negative integer", field="limit")
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        raise ValidationError("lease must be a positive timedelta", field="lease")
    if not callable(getattr(sender, "send", None)):
        raise ValidationError("sender must have a send(message) method", field="sender")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError("batch_size must be a positive integer", field="batch_size")
    policy = policy or RetryPolicy()
    report = DispatchReport()
    cache = _CallCache()
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch_size if remaining is None else min(batch_size, remaining)
        batch = _claim(factory, guard, size, clock(), lease, cache)
        if not batch.items:
            break
        report.claimed += len(batch.items)
        if remaining is not None:
            remaining -= len(batch.items)
        _process(factory, guard, sender, batch, clock, policy, report, lease=lease)
    return report


@contextmanager
def _transaction(
    factory: sessionmaker[Session], guard: Callable[[], AbstractContextManager[object]]
) -> Iterator[Session]:
    with guard(), factory() as session, session.begin():
        yield session


def _due_ids(dialect: str, size: int, now: datetime) -> Select[Any]:
    """The ids of up to ``size`` claimable reminders: expired claims (take-overs) first, then pending, oldest first.

    PostgreSQL: one index scan on ``(status, ready_at)`` with ``FOR UPDATE SKIP LOCKED``.  SQLite: two
    index range scans (``status = 'sending'``, then ``'pending'``) that return rows already in
    ``ready_at`` order, so a large backlog is never sorted (``status IN (…) ORDER BY ready_at`` would
    sort every due row on each claim).
    """
    r = t_reminder
    if dialect == "postgresql":
        return (
            select(r.c.id)
            .where(r.c.status.in_(("pending", "sending")), r.c.ready_at <= now)
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
    cache = cache if cache is not None else _CallCache()
    token = uuid.uuid4().hex
    with _transaction(factory, guard) as session:
        conn = session.connection()
        dialect = conn.dialect.name
        ids = [
            row[0]
            for row in conn.execute(
                update(t_reminder)
                .where(t_reminder.c.id.in_(_due_ids(dialect, size, now).scalar_subquery()))
                .values(status="sending", claim_token=token, claimed_at=now, ready_at=now + lease)
                .returning(t_reminder.c.id)
            )
        ]
        batch = _Batch(token, [], {}, cache.clinics, {}, set(), cache.templates)
        if ids:
            _load(conn, batch, ids, cache)
    return batch


def _load(conn: Connection, batch: _Batch, ids: list[int], cache: _CallCache) -> None:
    """The claimed reminders with their patients and visits (one query), plus pauses, clinics and templates."""
    r, p, v = t_reminder, t_patient, t_visit
    rows = conn.execute(
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
        )
        .select_from(r.join(p, p.c.id == r.c.patient_id).outerjoin(v, v.c.id == r.c.visit_id))
        .where(r.c.id.in_(ids))
        .order_by(r.c.due_at, r.c.id)
    ).all()
    for row in rows:
        batch.items.append(
            _Item(
                id=row.id,
                clinic_id=row.clinic_id,
                patient_id=row.patient_id,
                visit_id=row.visit_id,
                kind=row.kind,
                purpose=row.purpose,
                channel=row.channel,
                attempts=row.attempts,
                idempotency_key=row.idempotency_key,
                payload=dict(row.payload or {}),
                expires_at=row.expires_at,
                has_care_plan=row.care_plan_id is not None,
            )
        )
        batch.patients[row.patient_id] = _PatientInfo(
            display_name(row.family_name, row.given_name, row.locale), row.phone, row.email, row.locale, row.timezone
        )
        if row.visit_id is not None:
            batch.visits[row.visit_id] = (row.starts_at, row.visit_status)
    clinic_ids = {item.clinic_id for item in batch.items}
    missing = clinic_ids - cache.clinics.keys()
    if missing:
        c = t_clinic
        for clinic in conn.execute(select(c.c.id, c.c.name, c.c.quiet_start, c.c.quiet_end).where(c.c.id.in_(missing))):
            cache.clinics[clinic.id] = _ClinicInfo(clinic.name, clinic.quiet_start, clinic.quiet_end)
        t = t_message_template
        for template in conn.execute(
            select(t.c.clinic_id, t.c.kind, t.c.channel, t.c.locale, t.c.body, t.c.subject).where(
                t.c.clinic_id.in_(missing)
            )
        ):
            cache.templates[(template.clinic_id, template.kind, template.channel, template.locale)] = TemplateText(
                body=template.body, subject=template.subject
            )
    for pause in conn.execute(
        select(t_clinic_pause.c.clinic_id, t_clinic_pause.c.purpose).where(
            t_clinic_pause.c.clinic_id.in_(clinic_ids), t_clinic_pause.c.resumed_at.is_(None)
        )
    ):
        batch.paused.add((pause.clinic_id, pause.purpose))


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
    """Check, send and record every item of a claimed batch.

    The outcome of a sent message is written in the same short transaction that re-reads the
    consent of the next item (one transaction per message), and always before that next send.
    Right before a send the claim is renewed (``ready_at = now + lease``, fenced by the token): a
    reminder another dispatcher took over meanwhile is skipped (counted ``fenced``), so a stale
    dispatcher repeats at most the one message it was sending, and a slow batch keeps its tail.
    """
    done = 0
    unwritten: tuple[_Item, _Outcome] | None = None
    with _connection_steps(factory, guard) as step:
        try:
            for item in batch.items:
                now = clock()
                with step() as conn:
                    if unwritten is not None:
                        _record(conn, batch.token, *unwritten, report)
                        unwritten = None
                    decision = _decide(conn, batch, item, now, now + lease)
                    if isinstance(decision, _Outcome):
                        _record(conn, batch.token, item, decision, report)
                    elif decision is None:
                        report.fenced += 1
                        log.warning("reminder %s was taken over by another dispatcher; not sent", item.id)
                done += 1
                if isinstance(decision, _Send):
                    unwritten = (item, _deliver(sender, decision.message, item, clock(), policy))
            if unwritten is not None:
                with step() as conn:
                    _record(conn, batch.token, *unwritten, report)
                unwritten = None
        finally:
            if unwritten is not None:  # the next transaction failed: still try to record what was sent
                try:
                    with _transaction(factory, guard) as retry_session:
                        _record(retry_session.connection(), batch.token, *unwritten, report)
                except Exception:  # noqa: BLE001 - the lease will hand it over; never mask the first error
                    log.exception("could not record the outcome of reminder %s", unwritten[0].id)
            leftover = [item.id for item in batch.items[done:]]
            if leftover:
                _release(factory, guard, batch.token, leftover)


@contextmanager
def _connection_steps(
    factory: sessionmaker[Session], guard: Callable[[], AbstractContextManager[object]]
) -> Iterator[Callable[[], AbstractContextManager[Connection]]]:
    """One connection for a whole batch, with a short transaction per step.

    When the factory is bound to an ``Engine`` the batch keeps one ``Connection`` and begins a
    transaction per message (no session or pool round trip per message); otherwise (a factory
    bound to a host's ``Connection``) every step is a session transaction of that factory.
    """
    bind = factory.kw.get("bind")
    if isinstance(bind, Engine):
        with guard():  # an in-memory database shares one connection: check it out and in under the lock
            conn = bind.connect()
        try:
            raw = conn.connection.driver_connection
            assert raw is not None
            begin = "BEGIN IMMEDIATE" if conn.dialect.name == "sqlite" else None

            @contextmanager
            def engine_step() -> Iterator[Connection]:
                # Transaction control on the DB-API connection itself: every statement of a step runs on
                # its raw cursor (see _prepared), and SQLAlchemy's per-transaction bookkeeping would
                # cost more than the statements.  SQLite: the same BEGIN IMMEDIATE as db.py's engines.
                with guard():
                    if begin is not None:
                        raw.execute(begin)
                    try:
                        yield conn
                    except BaseException:
                        raw.rollback()
                        raise
                    raw.commit()

            yield engine_step
        finally:
            with guard():
                conn.close()
        return

    @contextmanager
    def session_step() -> Iterator[Connection]:
        with _transaction(factory, guard) as session:
            yield session.connection()

    yield session_step


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


def _claim_check() -> Any:
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


_PREPARED: dict[tuple[str, object], Prepared] = {}


def _prepared(conn: Connection, key: object, build: Callable[[], Any]) -> Prepared:
    dialect = conn.dialect
    found = _PREPARED.get((dialect.name, key))
    if found is None:
        found = _PREPARED[(dialect.name, key)] = prepare(build(), dialect)
    return found


def _renew_and_consent(
    conn: Connection, token: str, item: _Item, channel: str, now: datetime, until: datetime
) -> bool | None:
    """Extend our claim to ``until`` and tell whether consent allows the message at ``now``.

    Returns ``None`` when another dispatcher has taken the reminder over (nothing may be done with it).
    """
    cursor = _prepared(conn, "claim_check", _claim_check).execute(
        conn,
        {
            "w_id": item.id,
            "w_token": token,
            "v_ready_at": until,
            "c_patient": item.patient_id,
            "c_channel": channel,
            "c_purpose": item.purpose,
            "c_at": now,
        },
    )
    row = cursor.fetchone()
    cursor.close()
    if row is None:
        return None
    return DEFAULT_CONSENT[item.purpose] if row[0] is None else bool(row[0])


@lru_cache(maxsize=65536)
def fixed_line(e164: str) -> bool:
    """``values.is_fixed_line`` without re-parsing: an E.164 string is split at its (prefix-free) country code.

    Numbers whose national part starts with 0 (Italian land lines) go through the full parser.
    """
    digits = e164[1:]
    if e164.startswith("+") and digits.isdigit():
        for size in (1, 2, 3):
            code = int(digits[:size])
            if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                national = digits[size:]
                if national and national[0] != "0":
                    number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
                    return bool(phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE)
                break
    return is_fixed_line(e164)


def _decide(conn: Connection, batch: _Batch, item: _Item, now: datetime, until: datetime) -> _Outcome | _Send | None:
    """The outcome for one claimed reminder, or the message to send; ``None`` when the claim was lost."""
    patient = batch.patients[item.patient_id]
    clinic = batch.clinics[item.clinic_id]
    channel = item.channel or ("sms" if patient.phone else "email")
    allowed = _renew_and_consent(conn, batch.token, item, channel, now, until)
    if allowed is None:
        return None
    if item.visit_id is not None and batch.visits[item.visit_id][1] in ("cancelled", "no_show"):
        # the visit was cancelled after this reminder was claimed (cancel_visit_reminders skips claimed rows)
        return _Outcome("cancelled", {"status": "cancelled", "claim_token": None})
    if not allowed:
        return _suppress("no_consent", channel)
    address = patient.phone if channel == "sms" else patient.email
    if not address:
        return _suppress("no_address", item.channel)
    if channel == "sms" and fixed_line(address):
        return _suppress("not_mobile", channel)
    if in_quiet_hours(now, patient.timezone, clinic.quiet_start, clinic.quiet_end):
        until = quiet_hours_end(now, patient.timezone, clinic.quiet_start, clinic.quiet_end)
        return _Outcome(
            "deferred", {"status": "pending", "next_attempt_at": until, "ready_at": until, "claim_token": None}
        )
    if (item.clinic_id, item.purpose) in batch.paused:
        return _Outcome("held", {"status": "pending", "ready_at": now + HOLD_RECHECK, "claim_token": None})
    if item.expires_at is not None and now >= item.expires_at:
        return _suppress("expired", channel)
    fields = message_fields(
        name=patient.name,
        clinic=clinic.name,
        locale=patient.locale,
        timezone=patient.timezone,
        channel=channel,
        visit_at=batch.visits[item.visit_id][0] if item.visit_id is not None else None,
        url=_text(item.payload.get("url")),
        survey=_text(item.payload.get("survey_name")),
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
    return _Send(
        OutboundMessage(
            idempotency_key=item.idempotency_key,
            reminder_id=item.id,
            patient_id=item.patient_id,
            channel=channel,
            to=address,
            subject=rendered.subject,
            body=rendered.body,
            locale=patient.locale,
        )
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


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
        return _failure(item, now, policy, retryable=exc.retryable, error=_scrub(str(exc), message))
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


def _scrub(error: str, message: OutboundMessage) -> str:
    """The sender's error text without patient data, truncated for the column.

    Providers echo what they were given, so in the error text the
    recipient's address becomes ``<to>``, and every word of the message text (which holds the
    patient's name) becomes ``…``.
    """
    private = (message.to, message.body, message.subject or "")
    words = [
        "…" if any(word in text for text in private) or message.to in word else word
        for word in error.replace(message.to, " <to> ").split()
    ]
    return ("DeliveryError: " + " ".join(words))[:500]


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


def _outcome_statement(keys: tuple[str, ...]) -> Any:
    """The fenced ``UPDATE`` of one set of columns."""
    return (
        update(t_reminder)
        .where(
            t_reminder.c.id == bindparam("w_id"),
            t_reminder.c.claim_token == bindparam("w_token"),
            t_reminder.c.status == "sending",
        )
        .values({key: bindparam(f"v_{key}") for key in keys})
    )


def _record(conn: Connection, token: str, item: _Item, outcome: _Outcome, report: DispatchReport) -> None:
    """Write one outcome, fenced by the claim token, and count it."""
    if outcome.kind in ("retry", "failed"):
        report.failed += 1  # the attempt failed whether or not we still own the reminder
    keys = tuple(sorted(outcome.values))
    params = {f"v_{key}": outcome.values[key] for key in keys}
    params["w_id"], params["w_token"] = item.id, token
    cursor = _prepared(conn, keys, lambda: _outcome_statement(keys)).execute(conn, params)
    updated = cursor.rowcount
    cursor.close()
    if updated != 1:
        report.fenced += 1
        log.warning("reminder %s was taken over by another dispatcher; outcome %s not recorded", item.id, outcome.kind)
        return
    if outcome.kind == "sent":
        report.sent += 1
    elif outcome.kind == "suppressed":
        report.suppressed += 1
        assert outcome.reason is not None
        report.suppressed_by_reason[outcome.reason] = report.suppressed_by_reason.get(outcome.reason, 0) + 1
    elif outcome.kind == "deferred":
        report.deferred += 1
    elif outcome.kind == "held":
        report.held += 1
    elif outcome.kind == "failed":
        report.gave_up += 1
    elif outcome.kind == "cancelled":
        report.cancelled += 1
