"""The pure rules of feedback cases: choices, policy targets, deadlines, the status machine and "breached".

No database here: each rule is a plain function with millisecond unit tests (``tests/unit/test_feedback_rules.py``).
The SQL form of :func:`is_breached` (for ``list(breached=…)`` and ``sla().breached``) lives beside the queries in
:mod:`clinic_crm.services.feedback.cases` and is checked against this one by the tests.

A policy *target* is what the contract calls ``acknowledge_within`` / ``resolve_within``:

* a ``timedelta`` — clock time (``timedelta(hours=4)``), stored as ``"14400 seconds"``;
* ``"N working days"`` — the clinic's calendar, same local time, stored as given (normalised);
* ``None`` — no target, no due time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.localtime import MAX_WORKING_DAYS, parse_working_days

__all__ = [
    "KINDS",
    "CHANNELS",
    "PRIORITIES",
    "STATUSES",
    "EVENT_KINDS",
    "ACTIONS",
    "TRANSITIONS",
    "Target",
    "DEFAULT_TARGETS",
    "MAX_CLOCK_TARGET",
    "encode_target",
    "decode_target",
    "default_targets",
    "due_time",
    "next_status",
    "Clocks",
    "missed",
    "is_breached",
]

#: What a case is about.
KINDS = ("complaint", "question", "suggestion", "compliment")
#: How it reached the clinic.
CHANNELS = ("front_desk", "phone", "email", "sms", "web", "survey", "review")
#: How fast it must be handled (picks the policy).
PRIORITIES = ("normal", "urgent")
#: Where a case is in its life.
STATUSES = ("open", "acknowledged", "resolved")
#: The kinds of :class:`~clinic_crm.models.CaseEvent`.
EVENT_KINDS = ("recorded", "assigned", "acknowledged", "resolved", "reopened")
#: The status-changing calls.
ACTIONS = ("acknowledge", "resolve", "reopen")

#: status → action → new status; every pair not listed raises ``InvalidTransition``.
TRANSITIONS: dict[str, dict[str, str]] = {
    "open": {"acknowledge": "acknowledged", "resolve": "resolved"},
    "acknowledged": {"resolve": "resolved"},
    "resolved": {"reopen": "acknowledged"},
}

#: A policy target: clock time, ``"N working days"`` or no target.
Target = timedelta | str | None

#: The contract's targets ``(acknowledge_within, resolve_within)`` per ``(kind, priority)`` (no policy set).
DEFAULT_TARGETS: dict[tuple[str, str], tuple[Target, Target]] = {
    ("complaint", "normal"): ("3 working days", "20 working days"),
    ("complaint", "urgent"): (timedelta(hours=4), "5 working days"),
    ("question", "normal"): ("2 working days", "5 working days"),
    ("question", "urgent"): ("2 working days", "5 working days"),
    ("suggestion", "normal"): ("5 working days", None),
    ("suggestion", "urgent"): ("5 working days", None),
    ("compliment", "normal"): ("5 working days", None),
    ("compliment", "urgent"): ("5 working days", None),
}

#: The longest clock-time target accepted (ten years).
MAX_CLOCK_TARGET = timedelta(days=3653)

_SECONDS = " seconds"
_EXPECTED = "a positive timedelta, a string 'N working days' (N ≥ 1) or None"


def encode_target(value: object, field: str) -> str | None:
    """The stored text of a target: ``"14400 seconds"``, ``"3 working days"`` (``"1 working day"``) or ``None``.

    Raises:
        ValidationError: anything but a positive whole-second ``timedelta`` (at most ten years), a string
            ``"N working days"`` with ``1 ≤ N ≤ 10000``, or ``None``; ``.field`` is ``field``.
    """
    if value is None:
        return None
    if isinstance(value, timedelta):
        if value <= timedelta(0) or value > MAX_CLOCK_TARGET or value.microseconds:
            raise ValidationError(f"{field} must be {_EXPECTED} (whole seconds, at most 10 years)", field=field)
        return f"{int(value.total_seconds())}{_SECONDS}"
    if isinstance(value, str):
        days = parse_working_days(value)
        if days is not None and days >= 1:
            return "1 working day" if days == 1 else f"{days} working days"
    raise ValidationError(f"{field} must be {_EXPECTED}", field=field)


def decode_target(text: str | None) -> Target:
    """The target of a stored text (the inverse of :func:`encode_target`)."""
    if text is None:
        return None
    if text.endswith(_SECONDS):
        return timedelta(seconds=int(text[: -len(_SECONDS)]))
    return text


def default_targets(kind: str, priority: str) -> tuple[str | None, str | None]:
    """The stored texts of the contract's default targets for ``(kind, priority)``."""
    acknowledge, resolve = DEFAULT_TARGETS[(kind, priority)]
    return encode_target(acknowledge, "acknowledge_within"), encode_target(resolve, "resolve_within")


def due_time(
    start: datetime, target: str | None, add_working_days: Callable[[datetime, int], datetime]
) -> datetime | None:
    """When a target counted from ``start`` falls due.

    Args:
        start: an aware instant (the case's ``received_at``, or the reopening).
        target: a stored target text (see :func:`encode_target`).
        add_working_days: ``(instant, days) -> instant`` on the clinic's calendar
            (:func:`clinic_crm.services.clinics.clinic_add_working_days` bound to the clinic).

    Returns:
        ``None`` for no target; else the aware due instant.
    """
    if target is None:
        return None
    if target.endswith(_SECONDS):
        return start + timedelta(seconds=int(target[: -len(_SECONDS)]))
    days = parse_working_days(target)
    if days is None or not 0 <= days <= MAX_WORKING_DAYS:  # pragma: no cover - stored texts are encoded ones
        raise ValueError("not a stored target")
    return add_working_days(start, days)


def next_status(current: str, action: str) -> str:
    """The status after ``action`` (``"acknowledge"``, ``"resolve"``, ``"reopen"``) on a case in ``current``.

    Raises:
        InvalidTransition: the status machine has no such move (``.current``, ``.requested`` say which).
    """
    target = TRANSITIONS.get(current, {}).get(action)
    if target is None:
        raise InvalidTransition(
            f"a case that is {current} cannot be {action}d", current=current, requested=_REQUESTED.get(action, action)
        )
    return target


_REQUESTED = {"acknowledge": "acknowledged", "resolve": "resolved", "reopen": "reopened"}


@dataclass(frozen=True, slots=True)
class Clocks:
    """The instants that decide whether a case is breached.

    Attributes:
        acknowledge_due_at, acknowledged_at: the acknowledgement's due time and when it came.
        resolve_due_at, resolved_at: the resolution's due time and when it came.
        missed_before_at: the resolve due time an earlier resolution missed before the case was reopened.
    """

    acknowledge_due_at: datetime | None
    acknowledged_at: datetime | None
    resolve_due_at: datetime | None
    resolved_at: datetime | None
    missed_before_at: datetime | None = None


def missed(due: datetime | None, done: datetime | None, now: datetime) -> bool:
    """Whether a due time was missed at ``now``: it is earlier than ``now`` and the act did not come by it."""
    return due is not None and due < now and (done is None or done > due)


def is_breached(clocks: Clocks, now: datetime) -> bool:
    """Whether a case is breached at ``now``.

    A due time earlier than ``now`` without the act it asks for, or with the act after it (that stays breached
    for good — also after a reopening, through ``missed_before_at``).  An act exactly at its due time is on time.
    """
    return (
        missed(clocks.acknowledge_due_at, clocks.acknowledged_at, now)
        or missed(clocks.resolve_due_at, clocks.resolved_at, now)
        or (clocks.missed_before_at is not None and clocks.missed_before_at < now)
    )
