"""Dispatching due reminders: claim, check, render, send, record — each outcome in its own short transaction.

The loop of ``crm.reminders.dispatch``.  Its parts live beside it:

* :mod:`.checks` — the send-time rules (consent, erased, address, not-mobile, quiet hours, pause, expiry) and
  the retry policy, as pure functions;
* :mod:`.claims` — the claim SQL, leases and fenced outcome writes;
* :mod:`clinic_crm.db.runner` — one DB-API connection per call, one short transaction per step.

For every claimed reminder, after checking the claim is still ours (a reminder another dispatcher took over is
skipped) and re-reading consent and the visit's status (a visit cancelled or marked no-show while its reminder
waited in the batch cancels it), the rules of :mod:`.checks` decide; a reminder that passes is rendered in the
patient's locale and time zone (Babel) and handed to ``sender.send(message)``. No transaction is open while
``sender.send`` runs.

Cost: per message, one transaction records the previous message's outcome and checks this one's claim while
re-reading consent and the visit's status (one ``SELECT``); the rules that need no database and the statements'
parameters are worked out before it, and the message is rendered after its ``COMMIT`` — the result is the same
as checking in the contract's order. The lease of the rows a batch still holds is extended in the same
transaction, all at once, whenever a tenth of it has gone by, so every message is handed to the sender with at
least nine tenths of the lease ahead of it. A dispatcher that dies loses nothing and repeats at most the one
message it was sending: after ``lease`` another dispatcher takes its claimed reminders over, with the same
idempotency key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from clinic_crm.db.runner import Guard, Runner
from clinic_crm.errors import DeliveryError, ValidationError
from clinic_crm.messaging.message import Attachment, OutboundMessage, calendar_attachment
from clinic_crm.messaging.render import TemplateText, locale_candidates, message_fields, render_message
from clinic_crm.services._common import claim_run_clock
from clinic_crm.services.reminders import checks
from clinic_crm.services.reminders.checks import HOLD_RECHECK, Check, Outcome, RetryPolicy
from clinic_crm.services.reminders.claims import (
    Batch,
    CallCache,
    Item,
    Statements,
    Write,
    claim,
    claim_query,
    record,
    record_alone,
    release,
    statements,
    write,
)

__all__ = [
    "DispatchReport",
    "RetryPolicy",
    "dispatch_due",
    "claim_query",
    "ClaimBudget",
    "HOLD_RECHECK",
    "DEFAULT_BATCH_SIZE",
]

log = logging.getLogger("clinic_crm.reminders")

#: Rows claimed per claim transaction when ``limit`` does not ask for fewer.
DEFAULT_BATCH_SIZE = 100


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


class ClaimBudget:
    """How many rows the next claim of a claim loop asks for, given ``limit`` and the batch size.

    Shared by ``dispatch`` and ``publish_due``: ``while (size := budget.next()): … budget.took(n)``.
    """

    __slots__ = ("_remaining", "_batch")

    def __init__(self, limit: int | None, batch_size: int) -> None:
        self._remaining = limit
        self._batch = batch_size

    def next(self) -> int:
        """The size of the next claim (0: the limit is reached)."""
        return self._batch if self._remaining is None else min(self._batch, self._remaining)

    def took(self, claimed: int) -> None:
        """Count ``claimed`` rows against the limit."""
        if self._remaining is not None:
            self._remaining -= claimed


def dispatch_due(
    factory: sessionmaker[Session],
    sender: Any,
    *,
    now: datetime | None = None,
    limit: int | None = None,
    lease: timedelta = timedelta(minutes=10),
    policy: RetryPolicy | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    guard: Guard = nullcontext,
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
        sqlalchemy.exc.DBAPIError: the database failed (the facade raises ``DatabaseUnavailable``); outcomes
            recorded before stay recorded, claimed rows not reached are handed back.
    """
    clock = claim_run_clock(now, limit=limit, lease=lease, batch_size=batch_size)
    if not callable(getattr(sender, "send", None)):
        raise ValidationError("sender must have a send(message) method", field="sender")
    policy = policy or RetryPolicy()
    report = DispatchReport()
    cache = CallCache()
    budget = ClaimBudget(limit, batch_size)
    with Runner(factory, guard) as runner:
        while size := budget.next():
            batch = claim(runner, size, clock(), lease, cache)
            if not batch.items:
                break
            report.claimed += len(batch.items)
            budget.took(len(batch.items))
            _process(runner, sender, batch, clock, policy, report, lease)
    return report


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


def _check(batch: Batch, item: Item, now: datetime) -> Check:
    """:func:`.checks.check` on the claimed snapshot of one reminder."""
    patient = batch.patients[item.patient_id]
    clinic = batch.clinics[item.clinic_id]
    return checks.check(
        channel=item.channel,
        phone=patient.phone,
        email=patient.email,
        erased=patient.erased,
        visit_status=None if item.visit_id is None else batch.visits[item.visit_id][1],
        timezone=patient.timezone,
        quiet_start=clinic.quiet_start,
        quiet_end=clinic.quiet_end,
        paused=(item.clinic_id, item.purpose) in batch.paused,
        expires_at=item.expires_at,
        now=now,
    )


def _process(
    runner: Runner,
    sender: Any,
    batch: Batch,
    clock: Callable[[], datetime],
    policy: RetryPolicy,
    report: DispatchReport,
    lease: timedelta,
) -> None:
    """Check, send and record every item of a claimed batch.

    One short transaction per message writes the outcome of the previous message (sent or not) and
    checks the claim on this one while re-reading its patient's consent (extending the lease of the
    whole batch when a tenth of it has gone by); a reminder another dispatcher took over meanwhile is
    skipped (counted ``fenced``), so a stale dispatcher repeats at
    most the one message it was sending, and a slow batch keeps its tail.  The outcome of a sent
    message is thus committed before the next send.  If a step fails, the outcome not yet written is
    recorded on a fresh connection and the rows not reached are handed back (both best effort).
    """
    sql = statements(runner.dialect)
    instant = _Instants(sql.instant)
    fence, extend = sql.fence, sql.extend
    token = batch.token
    keep = lease - lease / 10  # the least lease left ahead of a send
    done = 0
    unwritten: tuple[Item, Outcome, Write] | None = None
    try:
        for item in batch.items:
            now = clock()
            check = _check(batch, item, now)
            fence_args = fence.args((item.id, token, item.patient_id, check.channel, item.purpose, instant(now)))
            extend_to = extend_args = None
            if batch.lease_end - now < keep:
                extend_to = now + lease
                extend_args = extend.args((instant(extend_to), token, instant(batch.lease_end)))
            previous = unwritten
            recorded_previous, outcome, held, recorded = runner.run(
                _step, sql, token, item, check, None if previous is None else previous[2], extend_args, fence_args
            )
            if extend_to is not None:
                batch.lease_end = extend_to
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
                unwritten = (item, result, write(sql, token, item, result, instant))
                continue
            done += 1
        if unwritten is not None:
            last = unwritten
            recorded = runner.run(record, last[2])
            unwritten = None
            _count(report, last[0], last[1], recorded)
    finally:
        if unwritten is not None:  # the next transaction failed: still try to record what was sent
            _record_again(runner, *unwritten, report)
        leftover = [item.id for item in batch.items[done:]]
        if leftover:
            release(runner, token, leftover)


def _step(
    cursor: Any,
    sql: Statements,
    token: str,
    item: Item,
    check: Check,
    previous: Write | None,
    extend_args: Any,
    fence_args: Any,
) -> tuple[bool, Outcome | None, bool, bool]:
    """One message's transaction: record the previous outcome, (extend the lease,) check the claim, re-read consent
    and the visit's status.

    Returns (previous outcome recorded, this item's outcome or ``None`` to send it, claim still ours,
    this outcome recorded).
    """
    recorded_previous = False
    if previous is not None:
        cursor.execute(*previous)
        recorded_previous = cursor.rowcount == 1
    if extend_args is not None:
        cursor.execute(sql.extend.sql, extend_args)
    cursor.execute(sql.fence.sql, fence_args)
    rows = cursor.fetchall()  # (not fetchone: the statement runs to its end before COMMIT)
    if not rows:
        return recorded_previous, None, False, False
    granted, visit_status = rows[0]
    outcome = checks.decide(check, item.purpose, None if granted is None else bool(granted), visit_status)
    if outcome is None:
        return recorded_previous, None, True, False
    cursor.execute(*write(sql, token, item, outcome))
    return recorded_previous, outcome, True, cursor.rowcount == 1


def _record_again(runner: Runner, item: Item, outcome: Outcome, change: Write, report: DispatchReport) -> None:
    """Record an outcome in a transaction of its own after a step failed (best effort)."""
    try:
        recorded = record_alone(runner, change)
    except Exception:  # noqa: BLE001 - the lease will hand it over; never mask the first error
        log.warning("could not record the outcome of reminder %s; its lease will hand it over", item.id)
        return
    _count(report, item, outcome, recorded)


def _count(report: DispatchReport, item: Item, outcome: Outcome, recorded: bool) -> None:
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


def _deliver(sender: Any, message: OutboundMessage, item: Item, now: datetime, policy: RetryPolicy) -> Outcome:
    """Call the sender (no transaction open) and turn what happened into an outcome."""
    try:
        provider_id = sender.send(message)
    except DeliveryError as exc:
        return _failed(item, now, policy, retryable=exc.retryable, error=exc.stored_text())
    except Exception as exc:  # noqa: BLE001 - a broken sender must not stop the batch; treated as retryable
        log.warning("sender raised %s for reminder %s; will retry", type(exc).__name__, item.id)
        return _failed(item, now, policy, retryable=True, error=f"{type(exc).__name__} raised by the sender")
    return checks.sent(now, provider_id, message.channel)


def _failed(item: Item, now: datetime, policy: RetryPolicy, *, retryable: bool, error: str) -> Outcome:
    outcome = checks.failure(item.attempts, now, policy, retryable=retryable, error=error)
    if outcome.kind == "retry":
        retry_at = outcome.values["next_attempt_at"]
        log.info("reminder %s: attempt %d failed, retry at %s", item.id, item.attempts + 1, retry_at.isoformat())
    else:
        log.info("reminder %s: attempt %d failed; giving up", item.id, item.attempts + 1)
    return outcome


# --- rendering ------------------------------------------------------------------------------------------------------


def _message(batch: Batch, item: Item, check: Check) -> OutboundMessage:
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


def _fallback(item: Item) -> str:
    template = item.payload.get("template")
    if isinstance(template, str):
        return template
    if item.has_care_plan:
        return "recall"
    if item.visit_id is not None:
        return "appointment"
    return "default"


def _override(batch: Batch, item: Item, channel: str, locale: str) -> TemplateText | None:
    if not batch.templates:
        return None
    for candidate in locale_candidates(locale):
        found = batch.templates.get((item.clinic_id, item.kind, channel, candidate))
        if found is not None:
            return found
    return None
