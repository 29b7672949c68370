"""``sla()``: how many cases were acknowledged and resolved on time, and how many are breached — one SQL aggregate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, literal_column, or_, select
from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.errors import ValidationError
from clinic_crm.services.aggregates import check_interval, count_if, month_label, optional_id
from clinic_crm.services.feedback.cases import breached_at, t_case
from clinic_crm.values import utc

__all__ = ["SlaResult", "SLA_BY", "sla"]

#: Groupings of :func:`sla`.
SLA_BY = ("month", "clinic", "kind")


@dataclass(frozen=True, slots=True)
class SlaResult:
    """Deadline figures of a set of cases.

    Attributes:
        cases: cases received in the interval.
        acknowledged_on_time: those acknowledged by their acknowledge due time (or that have none).
        resolved_on_time: those resolved by their resolve due time (or that have none).
        breached: those breached at ``now`` (see ``list(breached=True)``; the same rule).
    """

    cases: int
    acknowledged_on_time: int
    resolved_on_time: int
    breached: int


def _on_time(done: Any, due: Any) -> ColumnElement[bool]:
    return and_(done.is_not(None), or_(due.is_(None), done <= due))


@reads
def sla(
    session: Session,
    *,
    clinic_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    now: datetime | None = None,
) -> SlaResult | dict[str | int, SlaResult]:
    """Deadline figures of the cases received in ``[since, until)``, as one SQL aggregate.

    Args:
        clinic_id: only this clinic's cases.
        since, until: aware datetimes bounding ``received_at``.
        by: ``None`` for one result, or ``"month"`` (the month the case was received, in its clinic's time zone:
            ``"2026-03"``), ``"clinic"`` (the clinic id) or ``"kind"`` for a dict of groups; groups without cases
            are absent, the others come in key order.
        now: the instant ``breached`` is judged at (default now).

    Returns:
        :class:`SlaResult`, or ``dict[group, SlaResult]`` when ``by`` is given.

    Raises:
        ValidationError: an unknown ``by``, ``until`` before ``since``, a non-integer ``clinic_id``.
        NaiveDatetimeError: ``since``, ``until`` or ``now`` naive.
    """
    clinic = optional_id(clinic_id, "clinic_id")
    lo, hi = check_interval(since, until)
    if by is not None and by not in SLA_BY:
        raise ValidationError(f"by must be None or one of {', '.join(SLA_BY)}", field="by")
    when = utc(now)
    c = t_case.c
    conditions: list[ColumnElement[bool]] = []
    if clinic is not None:
        conditions.append(c.clinic_id == clinic)
    if lo is not None:
        conditions.append(c.received_at >= lo)
    if hi is not None:
        conditions.append(c.received_at < hi)
    key: ColumnElement[Any] | None = None
    if by == "month":
        key = month_label(session, t_case, "received_at", clinic_id=clinic, since=lo, until=hi)
        if key is None:
            return {}
    elif by == "clinic":
        key = c.clinic_id
    elif by == "kind":
        key = c.kind
    measures = [
        func.count(),
        count_if(_on_time(c.acknowledged_at, c.acknowledge_due_at)),
        count_if(_on_time(c.resolved_at, c.resolve_due_at)),
        count_if(breached_at(when)),
    ]
    columns = ([key.label("group_key")] if key is not None else []) + measures
    stmt = select(*columns).select_from(t_case).where(*conditions)
    if key is None:
        row = session.execute(stmt).one()
        return SlaResult(*(int(v or 0) for v in row))
    stmt = stmt.group_by(literal_column("group_key"))  # the alias: month's CASE is not repeated
    groups: dict[str | int, SlaResult] = {}
    for group, *counts in session.execute(stmt):
        if group is None:
            continue  # (PostgreSQL, READ COMMITTED) a case that arrived after the month range was read
        groups[group] = SlaResult(*(int(v or 0) for v in counts))
    return dict(sorted(groups.items()))
