"""The reputation summary in one SQL statement: counts, average rating, negatives, replies and the median reply time.

The median needs no ``percentile_cont`` (which SQLite lacks): an inner query ranks each group's replied
mentions by hours-to-reply with ``row_number()`` and counts them with ``count() OVER``; the outer aggregate
averages the one or two middle ones (ranks ``r`` with ``n ≤ 2r ≤ n + 2``) next to the other measures.  Window
functions and that arithmetic are the same on SQLite (3.25+) and PostgreSQL; only the hours between two
instants are spelt per dialect (``julianday`` difference × 24 / ``extract(epoch …) / 3600``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, case, extract, func, literal, select
from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.errors import ValidationError
from clinic_crm.models import Mention
from clinic_crm.services.aggregates import check_interval, count_if, month_label, optional_id

__all__ = ["ReputationSummary", "SUMMARY_BY", "summary"]

#: Groupings of ``summary``.
SUMMARY_BY = ("month", "source")

_MENTION = Mention.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class ReputationSummary:
    """Mentions of a period (or group) in figures.

    Attributes:
        mentions: mentions posted in the period.
        rated: those with a rating.
        average_rating: their mean rating (1–5); ``None`` without rated mentions.
        negative: mentions whose sentiment is ``"negative"``.
        replied: mentions with a reply (``replied_at`` set).
        median_hours_to_reply: median of ``replied_at − posted_at`` in hours over the replied ones; ``None``
            without replies.
    """

    mentions: int
    rated: int
    average_rating: float | None
    negative: int
    replied: int
    median_hours_to_reply: float | None

    @property
    def negative_share(self) -> float | None:
        """``negative / mentions`` (0–1), ``None`` without mentions."""
        return self.negative / self.mentions if self.mentions else None


def _hours(session: Session, later: Any, earlier: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 24.0
    return extract("epoch", later - earlier) / 3600.0


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


@reads
def summary(
    session: Session,
    *,
    clinic_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
) -> ReputationSummary | dict[str, ReputationSummary]:
    """Figures of the mentions posted in ``[since, until)``: one SQL statement.

    Args:
        clinic_id: one clinic (default: all).
        since, until: aware datetimes bounding ``posted_at``.
        by: ``None`` for one result; ``"month"`` (the month of ``posted_at`` in the clinic's time zone,
            ``"2026-03"``) or ``"source"`` for a dict of groups in key order (only groups with mentions).

    Returns:
        :class:`ReputationSummary`, or ``dict[str, ReputationSummary]`` when ``by`` is given.

    Raises:
        ValidationError: an unknown ``by``, ``until < since``, a ``clinic_id`` that is not an integer.
        NaiveDatetimeError: ``since``/``until`` without a time zone.
    """
    clinic = optional_id(clinic_id, "clinic_id")
    since_utc, until_utc = check_interval(since, until)
    if by is not None and by not in SUMMARY_BY:
        raise ValidationError(f"by must be None or one of {', '.join(SUMMARY_BY)}", field="by")
    m = _MENTION
    key: ColumnElement[Any] = literal(None)
    if by == "month":
        label = month_label(session, m, "posted_at", clinic_id=clinic, since=since_utc, until=until_utc)
        if label is None:
            return {}
        key = label
    elif by == "source":
        key = m.c.source
    conditions = []
    if clinic is not None:
        conditions.append(m.c.clinic_id == clinic)
    if since_utc is not None:
        conditions.append(m.c.posted_at >= since_utc)
    if until_utc is not None:
        conditions.append(m.c.posted_at < until_utc)
    delay = case((m.c.replied_at.is_not(None), _hours(session, m.c.replied_at, m.c.posted_at)))
    base = (
        select(key.label("group_key"), m.c.rating, m.c.sentiment, delay.label("delay"))
        .where(*conditions)
        .subquery("base")
    )
    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL has the ordered-set aggregate: one pass, no window sort (the same median as below)
        b = base.c
        pg_measures = (
            func.count(),
            func.count(b.rating),
            func.avg(b.rating),
            count_if(b.sentiment == "negative"),
            func.count(b.delay),
            func.percentile_cont(0.5).within_group(b.delay),
        )
        return _collect(session, by, b.group_key, pg_measures)
    ranked = select(
        base.c.group_key,
        base.c.rating,
        base.c.sentiment,
        base.c.delay,
        func.row_number()
        .over(partition_by=[base.c.group_key, base.c.delay.is_(None)], order_by=base.c.delay)
        .label("rank"),
        func.count(base.c.delay).over(partition_by=base.c.group_key).label("replies"),
    ).subquery("ranked")
    r = ranked.c
    middle = and_(r.delay.is_not(None), 2 * r.rank >= r.replies, 2 * r.rank <= r.replies + 2)
    measures = (
        func.count(),
        func.count(r.rating),
        func.avg(r.rating),
        count_if(r.sentiment == "negative"),
        func.count(r.delay),
        func.avg(case((middle, r.delay))),
    )
    return _collect(session, by, r.group_key, measures)


def _collect(
    session: Session, by: str | None, group_key: ColumnElement[Any], measures: tuple[ColumnElement[Any], ...]
) -> ReputationSummary | dict[str, ReputationSummary]:
    """Run the measures ungrouped (``by`` is None) or grouped by ``group_key``; build the results."""
    if by is None:
        n, rated, average, negative, replied, median = session.execute(select(*measures)).one()
        return ReputationSummary(int(n), int(rated), _float(average), int(negative), int(replied), _float(median))
    results: dict[str, ReputationSummary] = {}
    for group, n, rated, average, negative, replied, median in session.execute(
        select(group_key, *measures).group_by(group_key)
    ):
        item = ReputationSummary(int(n), int(rated), _float(average), int(negative), int(replied), _float(median))
        if group is not None:  # (PostgreSQL, READ COMMITTED) a row that arrived after the month range was read
            results[str(group)] = item
    return dict(sorted(results.items()))
