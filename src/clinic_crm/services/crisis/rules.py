"""Pure rules of crisis readiness: FMEA scores, the readiness score, approval completeness, publication
preconditions, the statement clocks and which text of a statement goes out.  No database: millisecond tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from clinic_crm.errors import NotApproved, ValidationError

__all__ = [
    "SCORE_MIN",
    "SCORE_MAX",
    "FIRST_STATEMENT_WITHIN",
    "UPDATE_EVERY",
    "DRILL_WITHIN",
    "EXTERNAL_AUDIENCES",
    "READINESS_CHECKS",
    "DEFAULT_APPROVERS",
    "Check",
    "Readiness",
    "check_score",
    "check_ids",
    "rpn",
    "readiness_score",
    "is_fully_approved",
    "check_publishable",
    "first_statement_due",
    "next_update_due",
    "is_overdue",
    "pick_text",
    "post_key",
]

SCORE_MIN, SCORE_MAX = 1, 10
#: The first statement is due this long after an incident is declared.
FIRST_STATEMENT_WITHIN = timedelta(hours=2)
#: After each external statement, the next update is due this long after it (while the incident is open).
UPDATE_EVERY = timedelta(hours=24)
#: The readiness check ``"drill"`` wants a drill declared within this long before ``now``.
DRILL_WITHIN = timedelta(days=365)
#: Audiences outside the clinic: they hear nothing before staff were told.
EXTERNAL_AUDIENCES = frozenset({"patients", "public", "media"})
#: The six readiness checks, in the contract's order.
READINESS_CHECKS = ("lead", "spokesperson", "legal_contact", "playbooks", "drill", "risks_reviewed")
#: The approver roles of a clinic that set none.
DEFAULT_APPROVERS = ("lead",)


@dataclass(frozen=True, slots=True)
class Check:
    """One readiness check: its ``name``, whether it is ``ok`` and a ``detail`` saying what is missing."""

    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Readiness:
    """A clinic's crisis readiness: ``score`` 0–100 (= round(100 × ok ÷ 6)) and the six ``checks`` in order."""

    score: int
    checks: list[Check]


def check_score(value: object, field: str) -> int:
    """Return ``value`` if it is an ``int`` from 1 to 10 (an FMEA score), else raise ``ValidationError`` naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or not SCORE_MIN <= value <= SCORE_MAX:
        raise ValidationError(f"{field} must be an integer from {SCORE_MIN} to {SCORE_MAX}", field=field)
    return value


def check_ids(value: object, field: str) -> list[int]:
    """The distinct integer ids of a list (order kept), else ``ValidationError`` naming ``field``."""
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(f"{field} must be a list of integer ids", field=field)
    ids = list(dict.fromkeys(value))
    if any(isinstance(i, bool) or not isinstance(i, int) for i in ids):
        raise ValidationError(f"{field} must be a list of integer ids", field=field)
    return ids


def rpn(severity: int, occurrence: int, detection: int) -> int:
    """The FMEA risk priority number: severity × occurrence × detection (1–1000)."""
    return severity * occurrence * detection


def readiness_score(checks: Iterable[Check]) -> Readiness:
    """The :class:`Readiness` of the six checks (``round(100 × ok ÷ 6)``).

    Raises:
        ValueError: the checks are not exactly :data:`READINESS_CHECKS` in that order (a programming error).
    """
    found = list(checks)
    if tuple(c.name for c in found) != READINESS_CHECKS:
        raise ValueError("readiness needs exactly the six checks, in order")
    ok = sum(1 for c in found if c.ok)
    return Readiness(score=round(100 * ok / len(READINESS_CHECKS)), checks=found)


def is_fully_approved(approver_roles: Iterable[str], approved_roles: Iterable[str]) -> bool:
    """Whether every approver role is among the roles that approved this version."""
    needed = set(approver_roles) or set(DEFAULT_APPROVERS)
    return needed <= set(approved_roles)


def check_publishable(*, status: str, audience: str, staff_told: bool) -> None:
    """Raise unless a statement version may be published now.

    Raises:
        NotApproved: the version is a draft, or it is external and no staff statement was published yet.
    """
    if status != "approved":
        raise NotApproved(f"the statement is {status}; only an approved version can be published")
    if audience in EXTERNAL_AUDIENCES and not staff_told:
        raise NotApproved("staff first: publish a staff statement of this incident before an external one")


def first_statement_due(declared_at: datetime) -> datetime:
    """When the first statement of an incident declared at ``declared_at`` is due (2 hours later)."""
    return declared_at + FIRST_STATEMENT_WITHIN


def next_update_due(published_at: datetime) -> datetime:
    """When the next update is due after an external statement published at ``published_at`` (24 hours later)."""
    return published_at + UPDATE_EVERY


def is_overdue(
    *,
    now: datetime,
    status: str,
    drill: bool,
    first_statement_due_at: datetime,
    first_statement_at: datetime | None,
    next_update_due_at: datetime | None,
) -> bool:
    """Whether an incident is overdue: open, not a drill, and past its first-statement or its update clock."""
    if status != "open" or drill:
        return False
    if first_statement_at is None and now > first_statement_due_at:
        return True
    return next_update_due_at is not None and now > next_update_due_at


def pick_text(text: str | Mapping[str, str], locales: Iterable[str]) -> tuple[str, str | None]:
    """The text of a statement to send, and its locale.

    A plain ``str`` is returned with locale ``None`` (the caller's locale applies).  For a ``{locale: str}``
    dict the first of ``locales`` it holds is taken, else its only (or first) locale.
    """
    if isinstance(text, str):
        return text, None
    for locale in locales:
        if locale in text:
            return text[locale], locale
    first = next(iter(text))
    return text[first], first


def post_key(statement_id: int, channel: str) -> str:
    """The idempotency key of one statement version on one channel: the same for every attempt."""
    return f"statement-{statement_id}-{channel}"
