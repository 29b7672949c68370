"""Closing the loop: follow-ups for unhappy respondents, due a number of working days later."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, bindparam, update
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import owns_read, reads, sessionless
from clinic_crm.db.detached import DetachedQuery
from clinic_crm.errors import Conflict, ValidationError
from clinic_crm.models import Clinic, FollowUp
from clinic_crm.services._common import MAX_ID, get_or_404, not_found, require_text
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


def _follow_ups_without_session(
    engine: Engine, clinic_id: int, *, overdue: bool = False, now: datetime | None = None
) -> list[FollowUp]:
    """:func:`list_follow_ups` as one statement on a pooled driver connection (see ``api._unit.sessionless``)."""
    query, parameters = _query(clinic_id, overdue, now)
    return query.whole(engine, parameters)


def _query(clinic_id: int, overdue: bool, now: datetime | None) -> tuple[DetachedQuery[FollowUp], dict[str, Any]]:
    """The query of a follow-up list and its parameters (``now`` checked even when not ``overdue``)."""
    when = utc(now)
    if overdue:
        return _OVERDUE, {"clinic_id": clinic_id, "now": when}
    return _OPEN, {"clinic_id": clinic_id}


#: Built once: a list call pays for its query and its rows, not for building the statement or loading them.
#: With its parent: the same statement also tells an unknown clinic from one with nothing open (db/detached.py).
_ORDER = (col(FollowUp.due_at), col(FollowUp.id))
_PARENT = (Clinic, col(FollowUp.clinic_id))
_OPEN = DetachedQuery(
    FollowUp, parent=_PARENT, missing=not_found, where=(col(FollowUp.closed_at).is_(None),), order_by=_ORDER
)
_OVERDUE = DetachedQuery(
    FollowUp,
    parent=_PARENT,
    missing=not_found,
    where=(col(FollowUp.closed_at).is_(None), col(FollowUp.due_at) < bindparam("now")),
    order_by=_ORDER,
)


@sessionless(_follow_ups_without_session)
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
    query, parameters = _query(clinic_id, overdue, now)
    if type(clinic_id) is not int or not 1 <= clinic_id <= MAX_ID:
        get_or_404(session, Clinic, clinic_id)  # a bad id raises as any lookup's does
    return query.all(session, parameters, detached=owns_read(session))


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
