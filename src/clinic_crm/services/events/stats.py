"""Attendance of community events: one set-based statement over events and their registrations."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.orm import Session

from clinic_crm.models import Event, Registration
from clinic_crm.models.events import SEAT_HOLDING
from clinic_crm.services.aggregates import check_interval, count_if, month_label, optional_id
from clinic_crm.values import check_choice

__all__ = ["EVENT_STATS_BY", "EventStats", "event_stats"]

#: The groupings :func:`event_stats` accepts.
EVENT_STATS_BY = ("kind", "month")

_EVENT = cast(Table, Event.__table__)  # type: ignore[attr-defined]
_REGISTRATION = cast(Table, Registration.__table__)  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class EventStats:
    """Attendance of a set of events.

    Attributes:
        events: how many events (not cancelled) started in the interval.
        registered: registrations that held a seat (registered, attended or no-show).
        attended: registrations checked in.
        no_show: registered but not checked in when the event was closed.
        attendance_rate: ``attended / (attended + no_show)``, a fraction 0–1; ``None`` when both are 0.
    """

    events: int
    registered: int
    attended: int
    no_show: int
    attendance_rate: float | None

    @classmethod
    def of(cls, events: int, registered: int, attended: int, no_show: int) -> EventStats:
        """The stats of these counts (the rate computed from them)."""
        judged = attended + no_show
        return cls(events, registered, attended, no_show, attended / judged if judged else None)


def event_stats(
    session: Session,
    *,
    clinic_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
) -> EventStats | dict[str, EventStats]:
    """Attendance of the events starting in ``[since, until)``; cancelled events are left out.

    Args:
        clinic_id: only this clinic's events (default: every clinic).
        since, until: filter on ``starts_at``, ``[since, until)`` (aware datetimes).
        by: ``"kind"`` or ``"month"`` (the month the event starts in, in its clinic's time zone: ``"2026-03"``).

    Returns:
        :class:`EventStats`, or ``dict[group, EventStats]`` (sorted by group) when ``by`` is given; groups
        without events are absent.

    Raises:
        NaiveDatetimeError, ValidationError: malformed filters or ``by``.
    """
    clinic = optional_id(clinic_id, "clinic_id")
    start, end = check_interval(since, until)
    group = None if by is None else check_choice(by, EVENT_STATS_BY, "by")
    e, r = _EVENT, _REGISTRATION
    where: list[ColumnElement[bool]] = [e.c.status != "cancelled"]
    if clinic is not None:
        where.append(e.c.clinic_id == clinic)
    if start is not None:
        where.append(e.c.starts_at >= start)
    if end is not None:
        where.append(e.c.starts_at < end)
    measures: list[ColumnElement[Any]] = [
        func.count(func.distinct(e.c.id)),
        count_if(r.c.status.in_(SEAT_HOLDING)),
        count_if(r.c.status == "attended"),
        count_if(r.c.status == "no_show"),
    ]
    source = e.outerjoin(r, r.c.event_id == e.c.id)
    if group is None:
        events, registered, attended, no_show = session.execute(
            select(*measures).select_from(source).where(*where)
        ).one()
        return EventStats.of(int(events), int(registered), int(attended), int(no_show))
    key: ColumnElement[Any] | None
    if group == "kind":
        key = e.c.kind
    else:
        key = month_label(session, e, "starts_at", clinic_id=clinic, since=start, until=end)
        if key is None:
            return {}
    label = key.label("grp")
    rows = session.execute(select(label, *measures).select_from(source).where(*where).group_by(label)).all()
    return {
        str(k): EventStats.of(int(a), int(b), int(c), int(d)) for k, a, b, c, d in sorted(rows, key=lambda x: str(x[0]))
    }
