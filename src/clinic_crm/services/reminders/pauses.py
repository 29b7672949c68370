"""Pausing a clinic's messages: the manual pause/resume, and the pauses an incident owns.

A paused purpose holds its pending reminders (held, not lost); when no pause holds the purpose any more they
become due at once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from clinic_crm.errors import ValidationError
from clinic_crm.models import PURPOSES, Clinic, ClinicPause
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.reminders._tables import t_clinic_pause, t_reminder
from clinic_crm.values import check_choice, utc

__all__ = [
    "check_purposes",
    "pause_clinic",
    "pause_for_incident",
    "lift_incident_pauses",
    "resume_clinic",
    "pause_history",
]


def check_purposes(purposes: object, *, allow_empty: bool = False, field: str = "purposes") -> tuple[str, ...]:
    """The distinct purposes of ``purposes`` (a purpose or a list of ``"care"`` / ``"marketing"``), in order.

    Raises:
        ValidationError: not a list of known purposes, or empty (unless ``allow_empty``).
    """
    if isinstance(purposes, str):
        purposes = (purposes,)
    if not isinstance(purposes, Iterable):
        raise ValidationError(f"{field} must be a list of 'care' / 'marketing'", field=field)
    found = tuple(dict.fromkeys(check_choice(p, PURPOSES, field) for p in purposes))
    if not found and not allow_empty:
        raise ValidationError(f"{field} must name at least one purpose", field=field)
    return found


def pause_clinic(
    session: Session,
    clinic_id: int,
    *,
    purposes: Iterable[str] = ("marketing",),
    reason: str,
    at: datetime | None = None,
) -> list[ClinicPause]:
    """Hold the clinic's messages of ``purposes`` (held, not lost) until ``resume``; return the active manual pauses.

    This is the manual pause (its rows have ``incident_id is None``); an incident's pauses are its own
    (``crm.incidents.declare``/``close``) and neither call touches the other's.  A purpose that is already
    paused manually keeps its original row.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown purpose, empty reason.
    """
    wanted = check_purposes(purposes)
    reason = require_text(reason, "reason", max_length=500)
    when = utc(at, "at")
    get_or_404(session, Clinic, clinic_id, for_update=True)
    active = {p.purpose: p for p in _active_pauses(session, clinic_id, manual=True)}
    for purpose in wanted:
        if purpose not in active:
            pause = ClinicPause(clinic_id=clinic_id, purpose=purpose, reason=reason, paused_at=when)
            session.add(pause)
            active[purpose] = pause
    session.flush()
    return sorted(active.values(), key=lambda p: p.purpose)


def pause_for_incident(
    session: Session, clinic_id: int, *, purposes: Iterable[str], incident_id: int, at: datetime
) -> list[ClinicPause]:
    """Add one pause row per purpose owned by an incident (lifted by :func:`lift_incident_pauses`).

    The caller validated ``purposes`` (:func:`check_purposes`) and holds the clinic.
    """
    rows = [
        ClinicPause(
            clinic_id=clinic_id, purpose=p, reason=f"incident {incident_id}", paused_at=at, incident_id=incident_id
        )
        for p in purposes
    ]
    session.add_all(rows)
    session.flush()
    return rows


def lift_incident_pauses(session: Session, clinic_id: int, *, incident_id: int, at: datetime) -> list[str]:
    """End the pauses an incident made; return the purposes no other pause holds any more (sending again).

    A purpose stays paused while another open incident's row or a manual pause holds it.
    """
    rows = list(
        session.scalars(
            select(ClinicPause).where(
                t_clinic_pause.c.incident_id == incident_id, t_clinic_pause.c.resumed_at.is_(None)
            )
        )
    )
    return _end_pauses(session, clinic_id, rows, at)[0]


def _active_pauses(session: Session, clinic_id: int, *, manual: bool = False) -> list[ClinicPause]:
    query = select(ClinicPause).where(t_clinic_pause.c.clinic_id == clinic_id, t_clinic_pause.c.resumed_at.is_(None))
    if manual:
        query = query.where(t_clinic_pause.c.incident_id.is_(None))
    return list(session.scalars(query))


def _end_pauses(session: Session, clinic_id: int, rows: list[ClinicPause], when: datetime) -> tuple[list[str], int]:
    """Resume ``rows``; held reminders of the purposes no active pause holds any more become due at once.

    Returns:
        Those purposes, and how many held reminders were made due again.
    """
    for pause in rows:
        pause.resumed_at = when
    session.flush()
    still_held = {p.purpose for p in _active_pauses(session, clinic_id)}
    freed = sorted({p.purpose for p in rows} - still_held)
    if not freed:
        return [], 0
    # A held reminder is pending with ready_at pushed past its due/next attempt: make it due again.
    natural = func.coalesce(t_reminder.c.next_attempt_at, t_reminder.c.due_at)
    result = session.execute(
        update(t_reminder)
        .where(
            t_reminder.c.clinic_id == clinic_id,
            t_reminder.c.purpose.in_(freed),
            t_reminder.c.status == "pending",
            t_reminder.c.ready_at > natural,
        )
        .values(ready_at=natural),
        execution_options={"synchronize_session": False},
    )
    return freed, int(cast(CursorResult[Any], result).rowcount or 0)


def resume_clinic(
    session: Session, clinic_id: int, *, purposes: Iterable[str] | None = None, at: datetime | None = None
) -> int:
    """End the clinic's manual pauses (all purposes by default, or those of ``purposes``); held reminders are due again.

    An open incident's pauses are not touched: a purpose it holds stays paused until the incident closes.

    Returns:
        How many held reminders were made due again.

    Raises:
        NotFound: no such clinic.
    """
    wanted = PURPOSES if purposes is None else check_purposes(purposes)
    when = utc(at, "at")
    get_or_404(session, Clinic, clinic_id, for_update=True)
    resumed = [p for p in _active_pauses(session, clinic_id, manual=True) if p.purpose in wanted]
    if not resumed:
        return 0
    return _end_pauses(session, clinic_id, resumed, when)[1]


def pause_history(session: Session, clinic_id: int) -> list[ClinicPause]:
    """The clinic's pause history, newest first (``resumed_at`` is ``None`` while active).

    Raises:
        NotFound: no such clinic.
    """
    get_or_404(session, Clinic, clinic_id)
    query = select(ClinicPause).where(t_clinic_pause.c.clinic_id == clinic_id)
    return list(session.scalars(query.order_by(t_clinic_pause.c.paused_at.desc(), t_clinic_pause.c.id.desc())))
