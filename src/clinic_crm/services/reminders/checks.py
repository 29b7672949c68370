"""The send-time rules of dispatch as pure functions on plain values (no database, no clock, no I/O).

For a claimed reminder, in the contract's order (see ``docs/reminders.md``):

0. its visit was cancelled (or missed) after the claim → ``cancelled``
1. the patient was erased → ``suppressed`` ``"erased"``, whatever the consent
2. no consent for the channel and purpose → ``suppressed`` ``"no_consent"``
3. no address on the channel → ``suppressed`` ``"no_address"``
4. SMS to a number phonenumbers types ``FIXED_LINE`` → ``suppressed`` ``"not_mobile"``
5. quiet hours in the patient's time zone → stays ``pending`` until they end (``deferred``)
6. the clinic is paused for the purpose → stays ``pending`` (``held``), looked at again after :data:`HOLD_RECHECK`
7. ``expires_at`` reached → ``suppressed`` ``"expired"``
8. otherwise: send.

Consent is the only rule that needs the database (it is re-read right before sending), so the work is split
in two: :func:`check` answers every other rule before the transaction, and :func:`decide` adds the consent
read in it.  The result is the same as checking in the order above.  :func:`sent` and :func:`failure` turn
what the sender did into the outcome to record.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache
from typing import Any

from clinic_crm.services.consent import DEFAULT_CONSENT
from clinic_crm.services.reminders.quiet import in_quiet_hours, quiet_hours_end
from clinic_crm.values import is_fixed_line

__all__ = [
    "RetryPolicy",
    "HOLD_RECHECK",
    "Outcome",
    "Check",
    "CANCELLED",
    "route",
    "check",
    "decide",
    "suppress",
    "sent",
    "failure",
]

#: How long a held reminder (clinic paused) waits before it is looked at again; ``resume`` makes it due at once.
HOLD_RECHECK = timedelta(minutes=5)


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
        exponent = max(attempts - 1, 0)
        if self.base <= timedelta(0):
            return min(self.base, self.cap)
        if exponent >= 64 or 2**exponent >= self.cap / self.base:  # past the cap (and never past timedelta.max)
            return self.cap
        delay: timedelta = self.base * 2**exponent
        return min(delay, self.cap)


@dataclass(slots=True)  # not frozen: built per message, and a frozen __init__ costs more
class Outcome:
    """A change to record for one claimed reminder (the columns to set), fenced by its claim token.

    Attributes:
        kind: ``sent | suppressed | deferred | held | retry | failed | cancelled``.
        values: the reminder's columns and their new values.
        reason: the suppression reason (``kind == "suppressed"``), else ``None``.
    """

    kind: str
    values: dict[str, Any]
    reason: str | None = None


@dataclass(slots=True)  # not frozen: built per message, and a frozen __init__ costs more
class Check:
    """What the rules that need no database say about one claimed reminder.

    Attributes:
        channel: the channel it goes out on.
        address: the patient's address on that channel (``None``: none).
        cancelled: its visit was cancelled (this wins over everything).
        outcome: the first failing rule other than consent (erased, address, not-mobile, quiet hours, pause,
            expiry), or ``None``: it may be sent if consent allows.
    """

    channel: str
    address: str | None
    cancelled: bool
    outcome: Outcome | None


#: The outcome of a reminder whose visit was cancelled after the claim.
CANCELLED = Outcome("cancelled", {"status": "cancelled", "claim_token": None})

#: Visit statuses that end their reminders: the message is cancelled, never sent.
VISIT_ENDED = frozenset({"cancelled", "no_show"})


def suppress(reason: str, channel: str | None) -> Outcome:
    """End the reminder ``suppressed`` for ``reason`` (recording the channel it would have used, when known)."""
    values: dict[str, Any] = {"status": "suppressed", "suppressed_reason": reason, "claim_token": None}
    if channel is not None:
        values["channel"] = channel
    return Outcome("suppressed", values, reason)


def route(channel: str | None, phone: str | None, email: str | None) -> tuple[str, str | None]:
    """The channel a reminder goes out on and the address there: the one asked for, else SMS when there is a phone."""
    chosen = channel or ("sms" if phone else "email")
    return chosen, (phone if chosen == "sms" else email)


# phonenumbers' typing of one number never changes: a dispatcher sees the same patients again and again
_fixed_line = lru_cache(maxsize=65536)(is_fixed_line)


def check(
    *,
    channel: str | None,
    phone: str | None,
    email: str | None,
    erased: bool,
    visit_status: str | None,
    timezone: str,
    quiet_start: time,
    quiet_end: time,
    paused: bool,
    expires_at: datetime | None,
    now: datetime,
) -> Check:
    """Every rule of the contract's order that reads no database, for one reminder at ``now``.

    Args:
        channel: the reminder's channel (``None``: SMS when the patient has a phone, else e-mail).
        phone: the patient's E.164 phone, if any.
        email: the patient's e-mail, if any.
        erased: the patient was erased.
        visit_status: the status of the reminder's visit (``None``: no visit).
        timezone: the patient's IANA zone (quiet hours are local to the patient).
        quiet_start: the clinic's quiet hours ``[start, end)``, wrapping midnight when ``start > end``.
        quiet_end: see ``quiet_start``.
        paused: the clinic is paused for the reminder's purpose.
        expires_at: when the reminder stops making sense (``None``: never).
        now: the instant of the check (aware).
    """
    chosen, address = route(channel, phone, email)
    if visit_status in VISIT_ENDED:
        return Check(chosen, address, True, None)
    outcome: Outcome | None = None
    if erased:
        outcome = suppress("erased", channel)
    elif not address:
        outcome = suppress("no_address", channel)
    elif chosen == "sms" and _fixed_line(address):
        outcome = suppress("not_mobile", chosen)
    elif in_quiet_hours(now, timezone, quiet_start, quiet_end):
        until = quiet_hours_end(now, timezone, quiet_start, quiet_end)
        outcome = Outcome(
            "deferred", {"status": "pending", "next_attempt_at": until, "ready_at": until, "claim_token": None}
        )
    elif paused:
        outcome = Outcome("held", {"status": "pending", "ready_at": now + HOLD_RECHECK, "claim_token": None})
    elif expires_at is not None and now >= expires_at:
        outcome = suppress("expired", chosen)
    return Check(chosen, address, False, outcome)


def decide(check: Check, purpose: str, granted: bool | None, visit_status: str | None = None) -> Outcome | None:
    """The outcome once consent is known; ``None``: send the message.

    Args:
        check: what :func:`check` said.
        purpose: the reminder's purpose (``care`` or ``marketing``).
        granted: the patient's latest consent event for the channel and purpose at ``now``
            (``None``: none yet, the purpose's default applies).
        visit_status: the reminder's visit status re-read at send time (``None``: no visit, or not re-read):
            a visit cancelled or marked no-show after the claim cancels the message.
    """
    if check.cancelled or visit_status in VISIT_ENDED:
        return CANCELLED
    if check.outcome is not None and check.outcome.reason == "erased":
        return check.outcome  # an erased patient is never contacted, whatever their consent says
    allowed = DEFAULT_CONSENT[purpose] if granted is None else granted
    if not allowed:
        return suppress("no_consent", check.channel)
    return check.outcome


def sent(now: datetime, provider_id: object, channel: str) -> Outcome:
    """The outcome of a message the sender accepted (``provider_id``: what it returned, kept as text, ≤ 200)."""
    return Outcome(
        "sent",
        {
            "status": "sent",
            "sent_at": now,
            "provider_id": str(provider_id)[:200] if provider_id is not None else None,
            "channel": channel,
            "next_attempt_at": None,
            "claim_token": None,
        },
    )


def failure(attempts: int, now: datetime, policy: RetryPolicy, *, retryable: bool, error: str) -> Outcome:
    """The outcome of a failed attempt: ``retry`` after the policy's back-off, or ``failed`` for good.

    Args:
        attempts: the attempts made before this one.
        now: when this one failed.
        policy: the retry policy.
        retryable: whether trying again may succeed.
        error: what is stored of the failure (never the message or address).
    """
    made = attempts + 1
    if retryable and made < policy.max_attempts:
        retry_at = now + policy.delay(made)
        return Outcome(
            "retry",
            {
                "status": "pending",
                "attempts": made,
                "next_attempt_at": retry_at,
                "ready_at": retry_at,
                "last_error": error,
                "claim_token": None,
            },
        )
    return Outcome("failed", {"status": "failed", "attempts": made, "last_error": error, "claim_token": None})
