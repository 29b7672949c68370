"""Each clinic's deadline policy per (kind, priority): targets to acknowledge and to resolve a case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import actor_of, reads
from clinic_crm.models import Clinic, FeedbackPolicy
from clinic_crm.services._common import get_or_404
from clinic_crm.services.feedback.rules import (
    KINDS,
    PRIORITIES,
    Target,
    decode_target,
    default_targets,
    encode_target,
)
from clinic_crm.values import check_choice, utc

__all__ = ["CasePolicy", "set_policy", "get_policy", "stored_targets"]


@dataclass(frozen=True, slots=True)
class CasePolicy:
    """The deadline targets of one (clinic, kind, priority).

    Attributes:
        acknowledge_within, resolve_within: a ``timedelta`` (clock time), ``"N working days"`` (the clinic's
            calendar, same local time) or ``None`` (no target).
        default: ``True`` when the clinic set nothing and the contract's defaults apply.
    """

    clinic_id: int
    kind: str
    priority: str
    acknowledge_within: Target
    resolve_within: Target
    default: bool


def _stored(session: Session, clinic_id: int, kind: str, priority: str) -> FeedbackPolicy | None:
    return session.scalars(
        select(FeedbackPolicy).where(
            col(FeedbackPolicy.clinic_id) == clinic_id,
            col(FeedbackPolicy.kind) == kind,
            col(FeedbackPolicy.priority) == priority,
        )
    ).first()


def stored_targets(session: Session, clinic_id: int, kind: str, priority: str) -> tuple[str | None, str | None]:
    """The stored texts of the targets in force for ``(kind, priority)``: the clinic's row, else the defaults."""
    row = _stored(session, clinic_id, kind, priority)
    if row is None:
        return default_targets(kind, priority)
    return row.acknowledge_within, row.resolve_within


def set_policy(
    session: Session,
    clinic_id: int,
    *,
    kind: str,
    priority: str = "normal",
    acknowledge_within: Target,
    resolve_within: Target,
    at: datetime | None = None,
) -> CasePolicy:
    """Set a clinic's deadline targets for cases of ``kind`` and ``priority``.

    The change applies to cases recorded after it; cases already recorded keep their deadlines.

    Args:
        kind: ``"complaint"``, ``"question"``, ``"suggestion"`` or ``"compliment"``.
        priority: ``"normal"`` or ``"urgent"``.
        acknowledge_within, resolve_within: a positive ``timedelta`` (clock time, whole seconds, at most ten
            years), ``"N working days"`` (``N ≥ 1``; the clinic's calendar, same local time) or ``None`` (no target).
        at: when the change was made (recorded with the policy; default now).

    Returns:
        The :class:`CasePolicy` now in force.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown kind or priority, a malformed target (``"3 days"``, a negative ``timedelta``).
        NaiveDatetimeError: ``at`` is naive.
    """
    kind = check_choice(kind, KINDS, "kind")
    priority = check_choice(priority, PRIORITIES, "priority")
    acknowledge = encode_target(acknowledge_within, "acknowledge_within")
    resolve = encode_target(resolve_within, "resolve_within")
    when = utc(at, "at")
    get_or_404(session, Clinic, clinic_id, for_update=True)  # serialises concurrent changes of one clinic's policy
    row = _stored(session, clinic_id, kind, priority)
    if row is None:
        row = FeedbackPolicy(clinic_id=clinic_id, kind=kind, priority=priority, set_at=when, set_by="")
        session.add(row)
    row.acknowledge_within, row.resolve_within = acknowledge, resolve
    row.set_at, row.set_by = when, actor_of(session)
    session.flush()
    return CasePolicy(clinic_id, kind, priority, decode_target(acknowledge), decode_target(resolve), default=False)


@reads
def get_policy(session: Session, clinic_id: int, *, kind: str, priority: str = "normal") -> CasePolicy:
    """The deadline targets in force for new cases of ``kind`` and ``priority`` (the defaults when none was set).

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown kind or priority.
    """
    kind = check_choice(kind, KINDS, "kind")
    priority = check_choice(priority, PRIORITIES, "priority")
    get_or_404(session, Clinic, clinic_id)
    stored = _stored(session, clinic_id, kind, priority)
    if stored is None:
        acknowledge, resolve = default_targets(kind, priority)
        return CasePolicy(clinic_id, kind, priority, decode_target(acknowledge), decode_target(resolve), default=True)
    return CasePolicy(
        clinic_id,
        kind,
        priority,
        decode_target(stored.acknowledge_within),
        decode_target(stored.resolve_within),
        default=False,
    )
