"""A time zone's UTC offsets as SQL: UTC → local wall time and local wall time → UTC, exactly as ``zoneinfo`` does.

SQLite has no time zone database, and PostgreSQL's may differ from Python's (and resolves an ambiguous wall time
to the later instant where ``zoneinfo`` takes the earlier).  So the offsets come from Python: :func:`transitions`
finds the instants at which a zone's UTC offset changes (probing ``zoneinfo`` day by day from :data:`EARLIEST`,
then bisecting to the second), and :func:`offset_at_utc` / :func:`offset_at_wall` turn them into ``CASE``
expressions over epoch seconds.

A wall time is resolved as ``datetime.replace(tzinfo=zone)`` does (PEP 495, ``fold=0``): before the threshold
``transition + max(offset before, offset after)`` the offset before the transition applies.  That is the earlier
instant of a repeated (fall-back) wall time and, for a wall time in a spring-forward gap, the offset before the
gap.  Instants before :data:`EARLIEST` are not covered (callers leave them to Python).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, case, literal_column

from clinic_crm.values import zone

__all__ = ["EARLIEST", "transitions", "offset_at_utc", "offset_at_wall"]

#: The first instant whose offsets the SQL covers.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 86_400


@lru_cache(maxsize=1024)
def transitions(timezone: str, end_year: int) -> tuple[int, tuple[tuple[int, int], ...]]:
    """(offset at :data:`EARLIEST`, ((epoch second of a change, offset from then on), …)) up to 1 January of
    ``end_year``, offsets in seconds.

    Probing day by day finds every change that is not undone within a day; no zone in the IANA database has
    such a pair (every zone was checked against ``zoneinfo``'s transition lists for 1900–2040).  From 1970 that
    is about 21,000 probes, a fraction of a second per zone, once per process.
    """
    tz = zone(timezone)

    def offset(epoch: int) -> int:
        found = datetime.fromtimestamp(epoch, tz).utcoffset()
        assert found is not None
        return int(found.total_seconds())

    start, end = int(EARLIEST.timestamp()), int(datetime(end_year, 1, 1, tzinfo=UTC).timestamp())
    first = current = offset(start)
    changes: list[tuple[int, int]] = []
    at = start
    while at < end:
        step = min(at + _DAY, end)
        after = offset(step)
        if after != current:
            low, high = at, step  # offset(low) == current != offset(high)
            while high - low > 1:
                middle = (low + high) // 2
                if offset(middle) == current:
                    low = middle
                else:
                    high = middle
            changes.append((high, after))
            current = after
        at = step
    return first, tuple(changes)


def _int(value: int) -> ColumnElement[Any]:
    return literal_column(str(int(value)))


def _lookup(epoch: ColumnElement[Any], first: int, thresholds: list[tuple[int, int]]) -> ColumnElement[Any]:
    """The offset of the last threshold at or before ``epoch`` (latest first: recent instants match at once)."""
    if not thresholds:
        return _int(first)
    return case(*((epoch >= _int(at), _int(offset)) for at, offset in reversed(thresholds)), else_=_int(first))


def _zones_case(
    timezone: ColumnElement[str], zones: list[str], per_zone: dict[str, ColumnElement[Any]]
) -> ColumnElement[Any]:
    if len(zones) == 1:
        return per_zone[zones[0]]
    return case(*((timezone == name, per_zone[name]) for name in zones))


def offset_at_utc(
    epoch: ColumnElement[Any], timezone: ColumnElement[str], zones: list[str], until: datetime
) -> ColumnElement[Any]:
    """The UTC offset (seconds) of instant ``epoch`` (epoch seconds) in the row's ``timezone``, one of ``zones``.

    Exact for instants from :data:`EARLIEST` to ``until`` plus three days.
    """
    per_zone = {}
    for name in zones:
        first, changes = _window(name, until)
        per_zone[name] = _lookup(epoch, first, list(changes))
    return _zones_case(timezone, zones, per_zone)


def offset_at_wall(
    wall: ColumnElement[Any], timezone: ColumnElement[str], zones: list[str], until: datetime
) -> ColumnElement[Any]:
    """The UTC offset (seconds) that ``zoneinfo`` gives local wall time ``wall`` (epoch seconds of the naive wall
    time read as UTC) with ``fold=0``.

    Exact for wall times from :data:`EARLIEST` to ``until`` plus one day; a later wall time gets the offset of
    that point, so its instant still lies after ``until``.
    """
    per_zone = {}
    for name in zones:
        first, changes = _window(name, until)
        thresholds, before = [], first
        for at, after in changes:
            thresholds.append((at + max(before, after), after))
            before = after
        per_zone[name] = _lookup(wall, first, thresholds)
    return _zones_case(timezone, zones, per_zone)


def _window(timezone: str, until: datetime) -> tuple[int, tuple[tuple[int, int], ...]]:
    """The zone's changes up to three days after ``until`` (enough for every due time up to ``until``)."""
    first, changes = transitions(timezone, until.year + 2)
    last = int(until.timestamp()) + 3 * _DAY
    return first, tuple(change for change in changes if change[0] <= last)
