"""The risk register: FMEA-scored risks, their reviews (every version kept) and retirement."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.models import RISK_CATEGORIES, Clinic, Risk, RiskVersion
from clinic_crm.services._common import get_or_404, optional_text, require_text
from clinic_crm.services.crisis.rules import check_score, rpn
from clinic_crm.services.reminders.scheduling import Every, parse_every
from clinic_crm.values import aware, check_choice, utc

__all__ = ["add_risk", "review_risk", "risk_history", "list_risks", "retire_risk", "get_risk"]

_TEXT_MAX = 4000


def _review_every(value: object) -> Every:
    """``parse_every`` (``"12 months"``, ``"6 weeks"`` or an RRULE) reporting the field ``review_every``."""
    try:
        return parse_every(value)
    except ValidationError as exc:
        raise ValidationError(str(exc).replace("every", "review_every", 1), field="review_every") from exc


def add_risk(
    session: Session,
    clinic_id: int,
    *,
    title: str,
    category: str,
    severity: int,
    occurrence: int,
    detection: int,
    at: datetime,
    owner: str | None = None,
    mitigation: str | None = None,
    review_every: str = "12 months",
) -> Risk:
    """Add a risk to the clinic's register, scored FMEA-style (``rpn`` = severity × occurrence × detection).

    Args:
        title: what could go wrong.
        category: ``"care" | "patient_safety" | "operations" | "information_security" | "public_accident" |
            "reputation"``.
        severity, occurrence, detection: each an ``int`` from 1 to 10.
        at: when it was assessed; ``next_review_at`` is ``at`` plus ``review_every`` (on the clinic's wall clock).
        owner: who looks after it; mitigation: what is done about it.
        review_every: ``"12 months"``-style text (or an RRULE).

    Returns:
        The risk (``status == "active"``, ``last_reviewed_at is None``, version 1 in its history).

    Raises:
        NotFound: no such clinic.
        ValidationError: a score that is not an int 1–10 (``.field`` names it), unknown category, empty title.
        NaiveDatetimeError: ``at`` is naive.
    """
    title = require_text(title, "title", max_length=300)
    category = check_choice(category, RISK_CATEGORIES, "category")
    s = check_score(severity, "severity")
    o = check_score(occurrence, "occurrence")
    d = check_score(detection, "detection")
    when = aware(at, "at")
    owner = optional_text(owner, "owner")
    mitigation = optional_text(mitigation, "mitigation", max_length=_TEXT_MAX)
    every = _review_every(review_every)
    clinic = get_or_404(session, Clinic, clinic_id)
    risk = Risk(
        clinic_id=clinic_id,
        title=title,
        category=category,
        severity=s,
        occurrence=o,
        detection=d,
        rpn=rpn(s, o, d),
        owner=owner,
        mitigation=mitigation,
        status="active",
        review_every=every.text,
        version=1,
        created_at=when,
        next_review_at=every.next_after(when, clinic.timezone),
    )
    session.add(risk)
    session.flush()
    assert risk.id is not None
    session.add(_version(risk, kind="added", note=None, by=owner, at=when))
    session.flush()
    return risk


def _version(risk: Risk, *, kind: str, note: str | None, by: str | None, at: datetime) -> RiskVersion:
    assert risk.id is not None
    return RiskVersion(
        risk_id=risk.id,
        version=risk.version,
        kind=kind,
        severity=risk.severity,
        occurrence=risk.occurrence,
        detection=risk.detection,
        rpn=risk.rpn,
        mitigation=risk.mitigation,
        note=note,
        by=by,
        at=at,
    )


def review_risk(
    session: Session,
    risk_id: int,
    *,
    at: datetime,
    by: str,
    note: str,
    severity: int | None = None,
    occurrence: int | None = None,
    detection: int | None = None,
    mitigation: str | None = None,
) -> Risk:
    """Record a review: re-score what is given, keep the rest, and move ``next_review_at`` to ``at`` + ``review_every``.

    Returns:
        The risk (``last_reviewed_at == at``; a new version in its history).

    Raises:
        NotFound: no such risk.
        ValidationError: a score that is not an int 1–10, empty ``by`` or ``note``.
        NaiveDatetimeError: ``at`` is naive.
        InvalidTransition: the risk is retired.
    """
    when = aware(at, "at")
    by = require_text(by, "by")
    note = require_text(note, "note", max_length=_TEXT_MAX)
    scores = {
        name: check_score(value, name)
        for name, value in (("severity", severity), ("occurrence", occurrence), ("detection", detection))
        if value is not None
    }
    mitigation = optional_text(mitigation, "mitigation", max_length=_TEXT_MAX)
    risk = get_or_404(session, Risk, risk_id, for_update=True)
    if risk.status != "active":
        raise InvalidTransition(f"risk {risk_id} is retired", current=risk.status, requested="reviewed")
    clinic = get_or_404(session, Clinic, risk.clinic_id)
    risk.severity = scores.get("severity", risk.severity)
    risk.occurrence = scores.get("occurrence", risk.occurrence)
    risk.detection = scores.get("detection", risk.detection)
    risk.rpn = rpn(risk.severity, risk.occurrence, risk.detection)
    if mitigation is not None:
        risk.mitigation = mitigation
    risk.last_reviewed_at = when
    risk.next_review_at = parse_every(risk.review_every).next_after(when, clinic.timezone)
    risk.version += 1
    session.add(_version(risk, kind="reviewed", note=note, by=by, at=when))
    session.flush()
    return risk


@reads
def risk_history(session: Session, risk_id: int) -> list[RiskVersion]:
    """Every version of a risk's scores, oldest first (version 1 is the assessment of ``add``).

    Raises:
        NotFound: no such risk.
    """
    get_or_404(session, Risk, risk_id)
    query = select(RiskVersion).where(col(RiskVersion.risk_id) == risk_id)
    return list(session.scalars(query.order_by(col(RiskVersion.version))))


@reads
def get_risk(session: Session, risk_id: int) -> Risk:
    """Return the risk or raise ``NotFound``."""
    return get_or_404(session, Risk, risk_id)


@reads
def list_risks(
    session: Session,
    clinic_id: int,
    *,
    category: str | None = None,
    due_for_review: bool = False,
    now: datetime | None = None,
) -> list[Risk]:
    """The clinic's active risks, highest RPN first (ties: oldest first).

    Args:
        category: only this category.
        due_for_review: only those with ``next_review_at <= now``.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown category.
        NaiveDatetimeError: ``now`` is naive.
    """
    query = select(Risk).where(col(Risk.clinic_id) == clinic_id, col(Risk.status) == "active")
    if category is not None:
        query = query.where(col(Risk.category) == check_choice(category, RISK_CATEGORIES, "category"))
    if due_for_review:
        query = query.where(col(Risk.next_review_at) <= utc(now))
    get_or_404(session, Clinic, clinic_id)
    return list(session.scalars(query.order_by(col(Risk.rpn).desc(), col(Risk.created_at), col(Risk.id))))


def retire_risk(session: Session, risk_id: int, *, at: datetime, by: str, reason: str) -> Risk:
    """Retire a risk: it leaves the register's lists (its history stays).

    Raises:
        NotFound: no such risk.
        ValidationError: empty ``by`` or ``reason``.
        NaiveDatetimeError: ``at`` is naive.
        InvalidTransition: it is already retired.
    """
    when = aware(at, "at")
    by = require_text(by, "by")
    reason = require_text(reason, "reason", max_length=2000)
    risk = get_or_404(session, Risk, risk_id, for_update=True)
    if risk.status != "active":
        raise InvalidTransition(f"risk {risk_id} is already retired", current=risk.status, requested="retired")
    risk.status, risk.retired_at, risk.retired_by, risk.retire_reason = "retired", when, by, reason
    session.flush()
    return risk
