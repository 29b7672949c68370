"""Quiet hours in a patient's local time, DST-correct.

Quiet hours are a ``[start, end)`` interval of local wall-clock times that may wrap
midnight (``21:00``–``08:00``).  ``start == end`` means *no* quiet hours.

Whether an instant is quiet depends only on the local wall time at that instant.
:func:`quiet_hours_end` returns the first instant after ``now`` whose local wall time is
outside the interval.  Local wall time changes continuously except at a zone's
transitions, so that instant is either one at which the local wall time equals ``end``
(the first of the two on a day where it happens twice, the later one if the first is
still followed by quiet time) or a transition instant itself — which covers an ``end``
that does not exist on a spring-forward day (the first valid instant after it) and a
fall-back that jumps the wall clock out of the interval.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from clinic_crm.values import zone

__all__ = ["in_quiet_hours", "quiet_hours_end", "local_instants"]

_HOUR = timedelta(hours=1)


def _quiet_at(local: time, start: time, end: time) -> bool:
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def in_quiet_hours(instant: datetime, timezone: str, start: time, end: time) -> bool:
    """Whether ``instant`` falls inside ``[start, end)`` of local wall time in ``timezone``.

    Args:
        instant: an aware datetime.
        timezone: IANA name of the patient's zone.
        start, end: naive local wall times; the interval wraps midnight when ``start > end``.
    """
    local = instant.astimezone(zone(timezone))
    return _quiet_at(local.time().replace(tzinfo=None), start, end)


def _wall(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def local_instants(day: date, wall: time, timezone: str) -> list[datetime]:
    """The UTC instants at which the local wall time in ``timezone`` reads ``day``/``wall``.

    Usually one; two on a fall-back day (earlier first); on a spring-forward day where
    the wall time does not exist, the first valid instant after it (the transition).
    """
    tz = zone(timezone)
    naive = datetime.combine(day, wall)
    found: list[datetime] = []
    for fold in (0, 1):
        instant = naive.replace(tzinfo=tz, fold=fold).astimezone(UTC)
        if _wall(instant, tz) == naive and instant not in found:
            found.append(instant)
    if found:
        return sorted(found)
    # Non-existent wall time: fold=1 reads it with the offset after the gap (an earlier
    # instant), fold=0 with the offset before (a later one); the transition lies between.
    low = naive.replace(tzinfo=tz, fold=1).astimezone(UTC)
    high = naive.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if low > high:
        low, high = high, low
    return [_first_at_or_after(low, high, naive, tz)]


def _first_at_or_after(low: datetime, high: datetime, naive: datetime, tz: ZoneInfo) -> datetime:
    """Smallest whole-second instant in ``[low, high]`` whose local wall time is ``>= naive``."""
    lo, hi = int(low.timestamp()), int(high.timestamp()) + 1
    while lo < hi:
        mid = (lo + hi) // 2
        if _wall(datetime.fromtimestamp(mid, UTC), tz) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return datetime.fromtimestamp(lo, UTC)


def _transitions(tz: ZoneInfo, since: datetime, until: datetime) -> list[datetime]:
    """The instants in ``(since, until]`` at which ``tz`` changes its UTC offset."""
    found: list[datetime] = []
    probe = since
    offset = probe.astimezone(tz).utcoffset()
    while probe < until:
        nxt = probe + _HOUR
        nxt_offset = nxt.astimezone(tz).utcoffset()
        if nxt_offset != offset:
            lo, hi = int(probe.timestamp()) + 1, int(nxt.timestamp())
            while lo < hi:
                mid = (lo + hi) // 2
                if datetime.fromtimestamp(mid, UTC).astimezone(tz).utcoffset() == nxt_offset:
                    hi = mid
                else:
                    lo = mid + 1
            found.append(datetime.fromtimestamp(lo, UTC))
            offset = nxt_offset
        probe = nxt
    return found


@lru_cache(maxsize=4096)
def quiet_hours_end(now: datetime, timezone: str, start: time, end: time) -> datetime:
    """The first instant at or after ``now`` that is outside the quiet hours (``now`` itself if not quiet).

    Returns an aware UTC datetime.  DST-correct: a local ``end`` that does not exist that
    day becomes the first valid instant after it; on a repeated hour the earliest instant
    that is really outside the interval is chosen.
    """
    now = now.astimezone(UTC)
    if not _quiet_at(_wall(now, zone(timezone)).time(), start, end):
        return now
    tz = zone(timezone)
    first_day = _wall(now, tz).date() - timedelta(days=1)
    for window in range(0, 30, 3):  # a few days always suffice; the loop bounds pathological zones
        candidates: set[datetime] = set()
        for offset in range(window, window + 4):
            candidates.update(local_instants(first_day + timedelta(days=offset), end, timezone))
        since = now + timedelta(days=window)
        candidates.update(_transitions(tz, since, since + timedelta(days=4)))
        for candidate in sorted(candidates):
            if candidate > now and not _quiet_at(_wall(candidate, tz).time(), start, end):
                return candidate
    raise AssertionError("no instant outside the quiet hours within 30 days")  # pragma: no cover
