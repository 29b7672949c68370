"""Survey statistics computed in SQL: NPS, CSAT and response rate, overall or by group.

Each call runs one aggregate ``SELECT`` (set-based, no per-row Python) that gives the same
result on SQLite and PostgreSQL.  ``by="month"`` labels a row with the month of its instant
in its clinic's time zone (``"2026-03"``).  SQLite has no time zone database, so the month
boundaries are computed in Python (``zoneinfo``) over the range that holds data, and the
aggregate labels each row with a ``CASE`` expression that binary-searches those boundaries.
Finding that range is a second, cheap query: for each clinic the ``min``/``max`` of the
instant column, each an index seek on ``(clinic_id, instant)``.  PostgreSQL runs the very
same statement, so both databases label months identically.  (A join to a ``UNION ALL``
table of months gave the same results but, driven month by month through the
``(clinic_id, instant)`` index, read the answers in random order: twice as slow as a scan.)

Definitions (see ``docs/metrics.md``):

* NPS counts a response when it has an answered ``nps`` question.  When a survey has more
  than one ``nps`` question, only the first answered one *by question key order* counts,
  so every response weighs once.  Promoters answer 9–10, passives 7–8, detractors 0–6;
  ``score = 100 · (P − D) / n``; ``margin_of_error = 1.96 · 100 · sqrt((p + d − (p − d)²) / n)``.
* CSAT counts every ``rating`` answer (a response with two rating questions counts twice):
  ``score`` = percent of ratings that are 4 or 5.
* Response rate counts invitations by the time they were *sent*; ``responses`` are those of
  them that got a response; ``rate`` is a fraction 0–1.

Suppression: a result (overall or a group) with fewer than ``min_responses`` responses — for
the response rate, fewer than ``min_responses`` invitations — keeps its counts but has
``score``/``margin_of_error`` (``rate``) ``None``.  An empty result has them ``None`` too.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar, overload

from sqlalchemy import (
    ColumnElement,
    exists,
    func,
    literal_column,
    select,
)
from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.errors import ValidationError
from clinic_crm.models import metadata
from clinic_crm.services.aggregates import check_interval, count_if, month_label, optional_id

__all__ = [
    "NpsResult",
    "CsatResult",
    "ResponseRate",
    "GroupKey",
    "MetricCall",
    "NPS_BY",
    "RATE_BY",
    "nps",
    "csat",
    "response_rate",
    "nps_from_counts",
    "margin_of_error",
]

#: Groupings of ``nps`` and ``csat``.
NPS_BY = ("month", "practitioner", "visit_kind", "clinic")
#: Groupings of ``response_rate`` (``"channel"`` is the invitation's channel).
RATE_BY = (*NPS_BY, "channel")

#: A group's key: ``"2026-03"`` (month), a practitioner or visit kind or channel (``None`` when
#: the visit/invitation has none), or a clinic id.
GroupKey = str | int | None

_ANSWER = metadata.tables["answer"]
_RESPONSE = metadata.tables["response"]
_INVITATION = metadata.tables["invitation"]
_VISIT = metadata.tables["visit"]
_CLINIC = metadata.tables["clinic"]

Z95 = 1.96


@dataclass(frozen=True, slots=True)
class NpsResult:
    """Net Promoter Score of a set of responses.

    Attributes:
        score: ``100 · (promoters − detractors) / responses`` in −100…100; ``None`` when empty or suppressed.
        responses: responses counted (each with one NPS answer).
        promoters: answers 9–10.
        passives: answers 7–8.
        detractors: answers 0–6.
        margin_of_error: half-width of the 95 % confidence interval, in NPS points; ``None`` with ``score``.
    """

    score: float | None
    responses: int
    promoters: int
    passives: int
    detractors: int
    margin_of_error: float | None


@dataclass(frozen=True, slots=True)
class CsatResult:
    """Customer satisfaction: the share of ``rating`` answers that are 4 or 5.

    Attributes:
        score: percent (0–100) of ratings that are 4 or 5; ``None`` when empty or suppressed.
        responses: the number of rating answers counted.
        satisfied: how many of them are 4 or 5.
    """

    score: float | None
    responses: int
    satisfied: int = field(default=0, compare=False)  # an addition to the contract's pair; not part of equality


@dataclass(frozen=True, slots=True)
class ResponseRate:
    """How many invitations (by the time they were sent) got a response.

    Attributes:
        invitations: invitations sent.
        responses: those of them answered.
        rate: ``responses / invitations`` as a fraction 0–1; ``None`` when there were none or suppressed.
    """

    invitations: int
    responses: int
    rate: float | None


_Result = TypeVar("_Result")


class MetricCall(Protocol, Generic[_Result]):
    """The type of ``crm.surveys.nps`` / ``csat`` / ``response_rate``: one result, or a dict of them with ``by``.

    The one home of these overloads (``ParamSpec``, which ``service`` uses, cannot carry them); the facade binds
    each metric with ``overloaded_service[MetricCall[…]]`` and a test checks both overloads take exactly the
    service function's parameters minus ``session``.
    """

    @overload
    def __call__(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: None = None,
        min_responses: int | None = None,
    ) -> _Result: ...

    @overload
    def __call__(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str,
        min_responses: int | None = None,
    ) -> dict[GroupKey, _Result]: ...


def margin_of_error(promoters: int, detractors: int, responses: int) -> float | None:
    """The 95 % margin of error of an NPS in points: ``1.96 · 100 · sqrt((p + d − (p − d)²) / n)``.

    Returns ``None`` when ``responses`` is 0.
    """
    if responses <= 0:
        return None
    p = promoters / responses
    d = detractors / responses
    variance = max(0.0, p + d - (p - d) ** 2)
    return Z95 * 100.0 * math.sqrt(variance / responses)


def nps_from_counts(promoters: int, passives: int, detractors: int, *, min_responses: int | None = None) -> NpsResult:
    """Build an :class:`NpsResult` from the three counts (suppressing the score below ``min_responses``)."""
    n = promoters + passives + detractors
    if n == 0 or (min_responses is not None and n < min_responses):
        return NpsResult(None, n, promoters, passives, detractors, None)
    return NpsResult(
        100.0 * (promoters - detractors) / n,
        n,
        promoters,
        passives,
        detractors,
        margin_of_error(promoters, detractors, n),
    )


def _csat_from_counts(satisfied: int, n: int, min_responses: int | None) -> CsatResult:
    if n == 0 or (min_responses is not None and n < min_responses):
        return CsatResult(None, n, satisfied)
    return CsatResult(100.0 * satisfied / n, n, satisfied)


def _rate_from_counts(invitations: int, responses: int, min_responses: int | None) -> ResponseRate:
    if invitations == 0 or (min_responses is not None and invitations < min_responses):
        return ResponseRate(invitations, responses, None)
    return ResponseRate(invitations, responses, responses / invitations)


# --------------------------------------------------------------------------- arguments


@dataclass(frozen=True, slots=True)
class _Query:
    clinic_id: int | None
    survey_id: int | None
    since: datetime | None
    until: datetime | None
    by: str | None
    min_responses: int | None


def _check_query(
    clinic_id: object,
    survey_id: object,
    since: object,
    until: object,
    by: object,
    min_responses: object,
    allowed_by: Sequence[str],
) -> _Query:
    since_utc, until_utc = check_interval(since, until)
    if by is not None and by not in allowed_by:
        raise ValidationError(f"by must be None or one of {', '.join(allowed_by)}", field="by")
    if min_responses is not None and (
        isinstance(min_responses, bool) or not isinstance(min_responses, int) or min_responses < 1
    ):
        raise ValidationError("min_responses must be None or a positive integer", field="min_responses")
    return _Query(
        optional_id(clinic_id, "clinic_id"),
        optional_id(survey_id, "survey_id"),
        since_utc,
        until_utc,
        by if isinstance(by, str) else None,
        min_responses if isinstance(min_responses, int) else None,
    )


# --------------------------------------------------------------------------- the aggregate

_T = TypeVar("_T")


def _grouped(
    session: Session,
    q: _Query,
    *,
    table: Any,
    instant: str,
    joins: Sequence[tuple[Any, ColumnElement[bool], bool]],
    where: Sequence[ColumnElement[bool]],
    measures: Sequence[ColumnElement[Any]],
) -> list[tuple[GroupKey, tuple[int, ...]]] | None:
    """Run ``SELECT [group,] measures FROM table JOIN joins … WHERE filters GROUP BY group``.

    ``table`` is the one the filters apply to (``response`` or ``invitation``); ``joins`` are
    ``(table, on, outer)`` triples joined after it.  Returns
    ``(key, counts)`` rows, or ``None`` when ``by="month"`` and there is no data at all.
    """
    col = table.c[instant]
    conditions = list(where)
    if q.clinic_id is not None:
        conditions.append(table.c.clinic_id == q.clinic_id)
    if q.survey_id is not None:
        conditions.append(table.c.survey_id == q.survey_id)
    if q.since is not None:
        conditions.append(col >= q.since)
    if q.until is not None:
        conditions.append(col < q.until)

    key: ColumnElement[Any] | None = None
    source: Any = table
    if q.by == "month":
        key = month_label(session, table, instant, clinic_id=q.clinic_id, since=q.since, until=q.until)
        if key is None:
            return None
    for other, on, outer in joins:
        source = source.join(other, on, isouter=outer)
    if q.by in ("practitioner", "visit_kind"):
        source = source.join(_VISIT, _VISIT.c.id == table.c.visit_id)
        key = _VISIT.c.practitioner if q.by == "practitioner" else _VISIT.c.kind
    if q.by == "clinic":
        key = table.c.clinic_id
    elif q.by == "channel":
        key = _INVITATION.c.channel

    columns: list[ColumnElement[Any]] = ([key.label("group_key")] if key is not None else []) + list(measures)
    stmt = select(*columns).select_from(source).where(*conditions)
    if key is not None:
        stmt = stmt.group_by(literal_column("group_key"))  # the alias: the CASE is not repeated
    out: list[tuple[GroupKey, tuple[int, ...]]] = []
    for row in session.execute(stmt):
        values = tuple(row)
        if key is None:
            out.append((None, tuple(int(v or 0) for v in values)))
        elif q.by == "month" and values[0] is None:
            continue  # (PostgreSQL, READ COMMITTED) a row that arrived after the month range was read
        else:
            out.append((values[0], tuple(int(v or 0) for v in values[1:])))
    return out


def _sorted(items: dict[GroupKey, _T]) -> dict[GroupKey, _T]:
    """Groups in key order, ``None`` last (the keys of one result share one type)."""
    return dict(sorted(items.items(), key=lambda kv: (kv[0] is None, kv[0] if kv[0] is not None else "")))


@reads
def nps(
    session: Session,
    *,
    clinic_id: int | None = None,
    survey_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    min_responses: int | None = None,
) -> NpsResult | dict[GroupKey, NpsResult]:
    """Net Promoter Score of the responses answered in ``[since, until)`` (one SQL aggregate).

    ``score = 100·(promoters − detractors)/responses`` with promoters 9–10, passives 7–8, detractors 0–6;
    ``margin_of_error`` is the 95 % half-width in NPS points.  A response counts once: if its survey has
    several nps questions, the first answered one by key order.

    Args:
        clinic_id, survey_id: restrict to one clinic / one survey version.
        since, until: aware datetimes bounding ``answered_at``.
        by: ``None`` for one result, or ``"month"`` (clinic's time zone, ``"2026-03"``),
            ``"practitioner"``, ``"visit_kind"``, ``"clinic"`` for a dict of groups (only groups
            with responses appear, in key order).
        min_responses: results with fewer responses keep their counts but score ``None``.

    Returns:
        :class:`NpsResult`, or ``dict[group, NpsResult]`` when ``by`` is given.

    Raises:
        NaiveDatetimeError: ``since``/``until`` without a time zone.
        ValidationError: an unknown ``by``, a non-positive ``min_responses``, ``until < since``.
    """
    q = _check_query(clinic_id, survey_id, since, until, by, min_responses, NPS_BY)
    a, r = _ANSWER, _RESPONSE
    earlier = _ANSWER.alias("earlier_nps")
    value = a.c.int_value
    where = [
        a.c.question_type == "nps",
        value.is_not(None),
        ~exists().where(
            earlier.c.response_id == a.c.response_id,
            earlier.c.question_type == "nps",
            earlier.c.int_value.is_not(None),
            earlier.c.question_key < a.c.question_key,
        ),
    ]
    measures = [count_if(value >= 9), count_if(value.between(7, 8)), count_if(value <= 6)]
    rows = _grouped(
        session,
        q,
        table=r,
        instant="answered_at",
        joins=[(a, a.c.response_id == r.c.id, False)],
        where=where,
        measures=measures,
    )
    if q.by is None:
        p, pa, d = rows[0][1] if rows else (0, 0, 0)
        return nps_from_counts(p, pa, d, min_responses=q.min_responses)
    return _sorted({k: nps_from_counts(*counts, min_responses=q.min_responses) for k, counts in rows or []})


@reads
def csat(
    session: Session,
    *,
    clinic_id: int | None = None,
    survey_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    min_responses: int | None = None,
) -> CsatResult | dict[GroupKey, CsatResult]:
    """CSAT — percent of ``rating`` answers (1–5) that are 4 or 5 — of responses answered in ``[since, until)``.

    Takes the arguments of :func:`nps`; ``min_responses`` counts rating answers.

    Returns:
        :class:`CsatResult`, or ``dict[group, CsatResult]`` when ``by`` is given.

    Raises:
        NaiveDatetimeError, ValidationError: as :func:`nps`.
    """
    q = _check_query(clinic_id, survey_id, since, until, by, min_responses, NPS_BY)
    a, r = _ANSWER, _RESPONSE
    value = a.c.int_value
    rows = _grouped(
        session,
        q,
        table=r,
        instant="answered_at",
        joins=[(a, a.c.response_id == r.c.id, False)],
        where=[a.c.question_type == "rating", value.is_not(None)],
        measures=[func.count(), count_if(value >= 4)],
    )
    if q.by is None:
        n, good = rows[0][1] if rows else (0, 0)
        return _csat_from_counts(good, n, q.min_responses)
    return _sorted({k: _csat_from_counts(good, n, q.min_responses) for k, (n, good) in rows or []})


@reads
def response_rate(
    session: Session,
    *,
    clinic_id: int | None = None,
    survey_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    min_responses: int | None = None,
) -> ResponseRate | dict[GroupKey, ResponseRate]:
    """Response rate of the invitations *sent* in ``[since, until)``.

    Takes the arguments of :func:`nps`; ``by`` may also be ``"channel"``, and ``"month"`` is the
    month the invitation was sent.  ``min_responses`` is compared with the number of invitations.

    Returns:
        :class:`ResponseRate`, or ``dict[group, ResponseRate]`` when ``by`` is given.

    Raises:
        NaiveDatetimeError, ValidationError: as :func:`nps`.
    """
    q = _check_query(clinic_id, survey_id, since, until, by, min_responses, RATE_BY)
    i, r = _INVITATION, _RESPONSE
    rows = _grouped(
        session,
        q,
        table=i,
        instant="sent_at",
        joins=[(r, r.c.invitation_id == i.c.id, True)],
        where=[],
        measures=[func.count(i.c.id), func.count(r.c.id)],
    )
    if q.by is None:
        n, answered = rows[0][1] if rows else (0, 0)
        return _rate_from_counts(n, answered, q.min_responses)
    return _sorted({k: _rate_from_counts(n, answered, q.min_responses) for k, (n, answered) in rows or []})
