"""Building blocks of the set-based reports (NPS, CSAT, SLA, reputation, events): one home for each.

* :func:`month_label` — a SQL expression labelling each row with the month of one of its instants in its
  clinic's time zone (``"2026-03"``), identical on SQLite and PostgreSQL;
* :func:`count_if` — ``SUM(CASE WHEN … THEN 1 ELSE 0 END)``;
* :func:`optional_id` and :func:`check_interval` — validation of the filters every report takes.

SQLite has no time zone database, so month boundaries are computed in Python
(:func:`clinic_crm.localtime.month_bounds`) over the range that holds data, and rows are labelled with a
``CASE`` that binary-searches those boundaries.  Finding that range is a cheap query: per clinic the
``min``/``max`` of the instant column (index seeks on ``(clinic_id, instant)`` where such an index exists).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, case, cast, func, literal, select
from sqlalchemy.orm import Session

from clinic_crm.errors import ValidationError
from clinic_crm.localtime import month_bounds
from clinic_crm.models import UTCDateTime, metadata
from clinic_crm.values import aware

__all__ = ["month_label", "count_if", "optional_id", "check_interval"]

_CLINIC = metadata.tables["clinic"]


def optional_id(value: object, field: str) -> int | None:
    """``None`` or an integer id (``bool`` is not one), else ``ValidationError`` naming ``field``."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer id or None", field=field)
    return value


def check_interval(since: object, until: object) -> tuple[datetime | None, datetime | None]:
    """Validate a ``[since, until)`` filter: aware datetimes or ``None``, ``until`` not before ``since``."""
    since_utc = None if since is None else aware(since, "since")
    until_utc = None if until is None else aware(until, "until")
    if since_utc is not None and until_utc is not None and until_utc < since_utc:
        raise ValidationError("until must not be before since (the interval is [since, until))", field="until")
    return since_utc, until_utc


def count_if(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    """``COALESCE(SUM(CASE WHEN condition THEN 1 ELSE 0 END), 0)``."""
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def month_label(
    session: Session,
    table: Any,
    instant: str,
    *,
    clinic_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    clinic_column: str = "clinic_id",
) -> ColumnElement[Any] | None:
    """A SQL expression giving each row of ``table`` the local month (``"2026-03"``) of its ``instant`` column.

    The month is taken in the time zone of the row's clinic (``table.c[clinic_column]``).  Reads each clinic's
    time zone and data range (filtered like the report: ``clinic_id``, ``[since, until)``), builds the month
    boundaries of every zone in Python, and returns a ``CASE`` that binary-searches them — about log2(months)
    comparisons per row, and the aggregate keeps its natural plan.  With clinics in several zones an outer
    ``CASE WHEN clinic_id IN (…)`` picks the zone's tree.  Group by the expression's label (not the expression)
    so the ``CASE`` is not repeated.

    Returns:
        The expression, or ``None`` when no row is in range (the report is empty).
    """
    col = table.c[instant]
    owner = table.c[clinic_column]

    def bound(fn: Callable[[Any], Any]) -> Any:
        sub = select(fn(col)).where(owner == _CLINIC.c.id)
        if since is not None:
            sub = sub.where(col >= since)
        if until is not None:
            sub = sub.where(col < until)
        return sub.scalar_subquery()

    stmt = select(_CLINIC.c.id, _CLINIC.c.timezone, bound(func.min), bound(func.max))
    if clinic_id is not None:
        stmt = stmt.where(_CLINIC.c.id == clinic_id)
    zones: dict[str, tuple[list[int], datetime, datetime]] = {}
    for row_clinic, tz_name, lo, hi in session.execute(stmt):
        if lo is None or hi is None:
            continue
        if tz_name in zones:
            ids, old_lo, old_hi = zones[tz_name]
            zones[tz_name] = ([*ids, row_clinic], min(lo, old_lo), max(hi, old_hi))
        else:
            zones[tz_name] = ([row_clinic], lo, hi)
    if not zones:
        return None

    def search(months: list[tuple[str, datetime, datetime]]) -> ColumnElement[Any]:
        if len(months) == 1:
            return cast(literal(months[0][0], String()), String())
        mid = len(months) // 2
        return case((col < literal(months[mid][1], UTCDateTime()), search(months[:mid])), else_=search(months[mid:]))

    trees = [(ids, search(month_bounds(tz_name, lo, hi))) for tz_name, (ids, lo, hi) in sorted(zones.items())]
    if len(trees) == 1:
        return trees[0][1]
    return case(*[(owner.in_(ids), tree) for ids, tree in trees])
