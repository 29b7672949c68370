"""Closing the loop: follow-ups for unhappy respondents, due a number of working days later."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import owns_read, reads
from clinic_crm.db.detached import DetachedQuery
from clinic_crm.errors import Conflict, ValidationError
from clinic_crm.models import Clinic, FollowUp
from clinic_crm.services._common import MAX_ID, get_or_404, require_text
from clinic_crm.services.clinics import clinic_add_working_days
from clinic_crm.services.surveys.questions import CheckedAnswer
from clinic_crm.values import aware, utc

__all__ = [
    "FOLLOW_UP_WORKING_DAYS",
    "follow_up_reason",
    "open_follow_up",
    "list_follow_ups",
    "close_follow_up",
]

#: A follow-up is due this many working days (the clinic's calendar, see ``clinic_crm.localtime``) after the answer.
FOLLOW_UP_WORKING_DAYS = 2
NOTE_MAX = 4000
DETRACTOR_MAX = 6  # nps 0–6
LOW_RATING_MAX = 2  # rating 1–2


def follow_up_reason(answers: list[CheckedAnswer]) -> str | None:
    """``"detractor"`` (an nps answer 0–6), ``"low_rating"`` (a rating 1–2), both comma-joined, or ``None``."""
    reasons = []
    if any(a.type == "nps" and a.int_value is not None and a.int_value <= DETRACTOR_MAX for a in answers):
        reasons.append("detractor")
    if any(a.type == "rating" and a.int_value is not None and a.int_value <= LOW_RATING_MAX for a in answers):
        reasons.append("low_rating")
    return ",".join(reasons) or None


def open_follow_up(
    session: Session,
    *,
    clinic_id: int,
    response_id: int,
    visit_id: int,
    patient_id: int,
    reason: str,
    answered_at: datetime,
) -> FollowUp:
    """Add the one follow-up of a response, due ``FOLLOW_UP_WORKING_DAYS`` working days after the answer,
    on the clinic's calendar (its region's holidays, closures and extra working days) and wall clock."""
    clinic = get_or_404(session, Clinic, clinic_id)
    due_at = clinic_add_working_days(session, clinic, answered_at, FOLLOW_UP_WORKING_DAYS)
    follow_up = FollowUp(
        clinic_id=clinic_id,
        response_id=response_id,
        visit_id=visit_id,
        patient_id=patient_id,
        reason=reason,
        opened_at=answered_at,
        due_at=due_at,
    )
    session.add(follow_up)
    session.flush()
    return follow_up


@reads
def list_follow_ups(
    session: Session, clinic_id: int, *, overdue: bool = False, now: datetime | None = None
) -> list[FollowUp]:
    """The clinic's open follow-ups, soonest due first; with ``overdue=True`` only those due before ``now``.

    A ``FollowUp`` carries ids (``response_id``, ``visit_id``, ``patient_id``), ``reason`` (``"detractor"``,
    ``"low_rating"`` or both, comma-joined), ``opened_at`` and ``due_at``.

    Raises:
        NotFound: no such clinic.
        NaiveDatetimeError: ``now`` is naive.
    """
    when = utc(now)
    if type(clinic_id) is int and 1 <= clinic_id <= MAX_ID:
        detached = owns_read(session)
        if overdue:
            found = _OVERDUE.all(session, {"clinic_id": clinic_id, "now": when}, detached=detached)
        else:
            found = _OPEN.all(session, {"clinic_id": clinic_id}, detached=detached)
        if found:  # the clinic exists: no second query
            return found
    get_or_404(session, Clinic, clinic_id)  # a bad id or an unknown clinic raises; else nothing open
    return []


#: Built once: a list call pays for its query and its rows, not for building the statement or loading them.
_OPEN_WHERE = (col(FollowUp.clinic_id) == bindparam("clinic_id"), col(FollowUp.closed_at).is_(None))
_ORDER = (col(FollowUp.due_at), col(FollowUp.id))
_OPEN = DetachedQuery(FollowUp, where=_OPEN_WHERE, order_by=_ORDER)
_OVERDUE = DetachedQuery(FollowUp, where=(*_OPEN_WHERE, col(FollowUp.due_at) < bindparam("now")), order_by=_ORDER)


def close_follow_up(session: Session, follow_up_id: int, *, note: str, at: datetime) -> FollowUp:
    """Close an open follow-up with staff's note of what was done.

    Raises:
        NotFound: no such follow-up.
        ValidationError: ``note`` empty or longer than 4000 characters; ``at`` before it was opened.
        NaiveDatetimeError: ``at`` is naive.
        Conflict: the follow-up is already closed.
    """
    when = aware(at, "at")
    text = require_text(note, "note", max_length=NOTE_MAX)
    follow_up = get_or_404(session, FollowUp, follow_up_id)
    if when < follow_up.opened_at:
        raise ValidationError("at is before the follow-up was opened", field="at")
    # the WHERE makes closing atomic: of two concurrent closes exactly one changes the row
    result = session.execute(
        update(FollowUp)
        .where(col(FollowUp.id) == follow_up_id, col(FollowUp.closed_at).is_(None))
        .values(closed_at=when, note=text)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict(f"follow-up {follow_up_id} is already closed")
    session.refresh(follow_up)
    return follow_up
