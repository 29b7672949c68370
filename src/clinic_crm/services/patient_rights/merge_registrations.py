"""Merging two records of one patient: one registration per event for the kept patient.

When both records signed up for the same event, the kept patient would hold two registrations (two seats or a
seat and a waitlist place, two reminders of the event, two notices).  The merge keeps **one**:

* the one that stands highest — ``attended``, then ``registered``, then ``no_show``, then ``waitlisted``
  (a confirmed seat beats a waitlist place);
* between two that stand alike, the earlier (registration ids give the order they came, see
  ``services/events/registrations.py``).

The other is cancelled as ``cancel_registration`` would cancel it (``cancelled_at`` = the merge's time, its
pending event reminders cancelled), and the seats it held are freed: on a ``scheduled`` event the waitlist is
then promoted in the order it came (``promote_waitlisted``, the one home of that rule).  Events are locked in
id order (``locked_event``), after the two patient rows the merge already holds.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, case, select
from sqlalchemy.orm import Session, aliased

from clinic_crm.models import Registration
from clinic_crm.models.events import SEAT_HOLDING
from clinic_crm.services.events._rules import cancel_pending, registration_prefix
from clinic_crm.services.events.registrations import locked_event, promote_waitlisted

__all__ = ["REGISTRATION_RANK", "cancel_duplicate_registrations"]

_REGISTRATION = cast(Table, Registration.__table__)  # type: ignore[attr-defined]

#: Which of two registrations for one event the merge keeps: the lower rank, then the lower id.
REGISTRATION_RANK = {"attended": 0, "registered": 1, "no_show": 2, "waitlisted": 3}


def _pairs(session: Session, keep_id: int, merge_id: int) -> list[tuple[int, int, int]]:
    """``(event_id, registration kept, registration dropped)`` for every event both records hold a place in."""
    mine, theirs = aliased(_REGISTRATION), aliased(_REGISTRATION)
    live = tuple(REGISTRATION_RANK)

    def rank(table: Any) -> ColumnElement[int]:
        return case(*((table.c.status == status, value) for status, value in REGISTRATION_RANK.items()), else_=9)

    mine_first = (rank(mine) < rank(theirs)) | and_(rank(mine) == rank(theirs), mine.c.id < theirs.c.id)
    rows = session.execute(
        select(mine.c.event_id, mine.c.id, theirs.c.id, mine_first)
        .join(theirs, theirs.c.event_id == mine.c.event_id)
        .where(
            mine.c.patient_id == keep_id,
            theirs.c.patient_id == merge_id,
            mine.c.status.in_(live),
            theirs.c.status.in_(live),
        )
        .order_by(mine.c.event_id, mine.c.id, theirs.c.id)
    ).all()
    return [(event, a, b) if first else (event, b, a) for event, a, b, first in rows]


def cancel_duplicate_registrations(session: Session, keep_id: int, merge_id: int, when: datetime) -> int:
    """Before a merge moves the records: keep one registration per event, cancel the other; return how many.

    The caller holds both patient rows locked.  Seats freed on a scheduled event promote its waitlist.
    """
    events = sorted({event for event, _kept, _dropped in _pairs(session, keep_id, merge_id)})
    cancelled = 0
    for event_id in events:
        event = locked_event(session, event_id)  # then re-read: a concurrent cancel may have freed one already
        for pair_event, _kept, dropped_id in _pairs(session, keep_id, merge_id):
            if pair_event != event_id:
                continue
            dropped = session.get(Registration, dropped_id, populate_existing=True)
            if dropped is None or dropped.status not in REGISTRATION_RANK:
                continue
            held = dropped.status in SEAT_HOLDING
            dropped.status = "cancelled"
            dropped.cancelled_at = when
            cancel_pending(session, registration_prefix(event_id, dropped_id), "registration_cancelled")
            if held:
                event.seats_taken -= dropped.seats
            cancelled += 1
        session.flush()
        if event.status == "scheduled":
            promote_waitlisted(session, event, when)
    return cancelled
