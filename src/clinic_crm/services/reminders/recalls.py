"""Planning recalls: text intervals in SQL, RRULE plans streamed in batches with due times in Python.

A recall's due time is ``every`` after the last completed visit on the patient's local wall clock.  Plans whose
``every`` is a text interval (``"6 months"``) are planned set-based by :mod:`.recall_sets`, which computes the
same due time in SQL.  The rest (RRULE occurrences, text that no longer parses, anchors before
:data:`~.zone_offsets.EARLIEST`) are read in
batches of :data:`BATCH` (keyset by id, memory flat), and each batch costs a fixed number of statements: two
grouped reads of visits, one read of the plans' reminders, then only what changed: one batched insert, at most
two cancelling ``UPDATE`` s and one reviving ``UPDATE`` (an idempotent run writes nothing).  A plan whose
stored ``every`` no longer parses is skipped (logged by id) and never stops planning.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import exists, func, or_, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from clinic_crm.errors import ValidationError
from clinic_crm.services.reminders._tables import t_care_plan, t_patient, t_reminder, t_visit
from clinic_crm.services.reminders.recall_sets import plan_text_recalls, text_plans
from clinic_crm.services.reminders.rows import insert_rows, new_key, reminder_values
from clinic_crm.services.reminders.scheduling import Every, parse_every, recurrence
from clinic_crm.services.reminders.zone_offsets import EARLIEST
from clinic_crm.values import zone

__all__ = ["plan_recalls", "recall_due", "BATCH"]

#: Care plans per batch.
BATCH = 2000

log = logging.getLogger("clinic_crm.reminders")


@lru_cache(maxsize=4096)
def _every(text: str) -> Every:
    return parse_every(text)


def recall_due(every: str, anchor: datetime, timezone: str, until: datetime) -> datetime | None:
    """The recall's due instant: ``every`` after ``anchor``; for an RRULE the latest occurrence up to ``until``.

    Raises:
        ValidationError: ``every`` does not parse (or an RRULE has no occurrence after ``anchor``).
    """
    parsed = _every(every)
    first = parsed.next_after(anchor, timezone)
    if first > until:
        return None
    if parsed.rule is None:
        return first
    tz = zone(timezone)
    local_until = until.astimezone(tz).replace(tzinfo=None)
    local_anchor = anchor.astimezone(tz).replace(tzinfo=None)
    latest = recurrence(parsed.rule, local_anchor).before(local_until, inc=True)
    if latest is None or latest <= local_anchor:
        return first
    return latest.replace(tzinfo=tz).astimezone(UTC)


def plan_recalls(session: Session, now: datetime, until: datetime) -> int:
    """Plan the recalls of every active care plan (text intervals in SQL, the rest batch by batch); return how
    many became pending."""
    text = text_plans(session)
    made, after = plan_text_recalls(session, text, now, until), 0
    simple = list(text.steps)
    # a text plan reaches Python only when a completed visit predates the offsets the SQL knows
    early = exists().where(
        t_visit.c.patient_id == t_care_plan.c.patient_id,
        t_visit.c.kind == t_care_plan.c.after_visit_kind,
        t_visit.c.status == "completed",
        t_visit.c.completed_at < EARLIEST,
    )
    left = or_(t_care_plan.c.every.not_in(simple), early) if simple else t_care_plan.c.id.is_not(None)
    while True:
        plans = session.execute(
            select(
                t_care_plan.c.id,
                t_care_plan.c.patient_id,
                t_care_plan.c.kind,
                t_care_plan.c.every,
                t_care_plan.c.after_visit_kind,
                t_care_plan.c.channel,
                t_patient.c.clinic_id,
                t_patient.c.timezone,
            )
            .join(t_patient, t_patient.c.id == t_care_plan.c.patient_id)
            .where(t_care_plan.c.active.is_(True), t_care_plan.c.id > after, left)
            .order_by(t_care_plan.c.id)
            .limit(BATCH)
        ).all()
        if not plans:
            return made
        made += _plan_batch(session, [plan for plan in plans if plan.every not in text.steps], now, until)
        made += _plan_batch(session, [plan for plan in plans if plan.every in text.steps], now, until, early=True)
        after = plans[-1].id


def _visit_times(session: Session, patient_ids: list[int], statuses: tuple[str, ...], column: Any) -> dict[Any, Any]:
    """``max(column)`` per (patient, visit kind) over the patients' visits of ``statuses``."""
    return {
        (patient_id, kind): latest
        for patient_id, kind, latest in session.execute(
            select(t_visit.c.patient_id, t_visit.c.kind, func.max(column))
            .where(t_visit.c.patient_id.in_(patient_ids), t_visit.c.status.in_(statuses))
            .group_by(t_visit.c.patient_id, t_visit.c.kind)
        )
    }


def _plan_batch(session: Session, plans: Any, now: datetime, until: datetime, *, early: bool = False) -> int:
    """Plan one batch in Python; ``early``: text plans, of which only those anchored before ``EARLIEST``."""
    if not plans:
        return 0
    patient_ids = sorted({plan.patient_id for plan in plans})
    last_done = _visit_times(session, patient_ids, ("completed",), t_visit.c.completed_at)
    next_booked = _visit_times(session, patient_ids, ("booked", "checked_in"), t_visit.c.starts_at)
    rows: list[dict[str, Any]] = []
    satisfied_plans: list[int] = []
    other_plans: list[int] = []
    for plan in plans:
        key = (plan.patient_id, plan.after_visit_kind)
        anchor, booked = last_done.get(key), next_booked.get(key)
        if early and (anchor is None or anchor >= EARLIEST):
            continue  # planned in SQL
        satisfied = anchor is not None and booked is not None and booked > anchor
        if anchor is not None and not satisfied:
            try:
                due = recall_due(plan.every, anchor, plan.timezone, until)
            except (ValidationError, ValueError, OverflowError):
                log.warning("care plan %s: its interval does not give a due time; skipped", plan.id)
                continue
            if due is not None:
                rows.append(
                    reminder_values(
                        clinic_id=plan.clinic_id,
                        patient_id=plan.patient_id,
                        care_plan_id=plan.id,
                        kind=plan.kind,
                        purpose="care",
                        channel=plan.channel,
                        due_at=due,
                        plan_key=f"recall:{plan.id}:{int(due.timestamp())}",
                        payload={"template": "recall"},
                        created_at=now,
                        idempotency_key=new_key(),
                    )
                )
        (satisfied_plans if satisfied else other_plans).append(plan.id)
    wanted = {str(row["plan_key"]) for row in rows}
    why_by_plan = dict.fromkeys(satisfied_plans, "satisfied") | dict.fromkeys(other_plans, "superseded")
    cancel: dict[str, list[int]] = {"satisfied": [], "superseded": []}
    revive: list[int] = []
    known: set[str] = set()
    # one indexed read of the batch's recall reminders decides what to cancel, revive or insert, so an idempotent
    # run writes nothing
    for reminder_id, plan_id, plan_key, status, reason in session.execute(
        select(
            t_reminder.c.id,
            t_reminder.c.care_plan_id,
            t_reminder.c.plan_key,
            t_reminder.c.status,
            t_reminder.c.suppressed_reason,
        ).where(t_reminder.c.care_plan_id.in_(list(why_by_plan)))
    ):
        known.add(plan_key)
        if plan_key in wanted:
            if status == "cancelled" and reason == "satisfied":  # its booking went: the recall comes back
                revive.append(reminder_id)
        elif status == "pending":  # satisfied by a booking, or superseded by a newer visit
            cancel[why_by_plan[plan_id]].append(reminder_id)
    for why, ids in cancel.items():
        _move(session, ids, "pending", status="cancelled", suppressed_reason=why)
    made = _move(session, revive, "cancelled", status="pending", suppressed_reason=None)
    return made + insert_rows(session, [row for row in rows if row["plan_key"] not in known], fresh=True)


def _move(session: Session, ids: list[int], current: str, **values: Any) -> int:
    """Set ``values`` on the reminders ``ids`` still in status ``current``; return how many moved."""
    if not ids:
        return 0
    result = session.execute(
        update(t_reminder)
        # status inside a function: without statistics SQLite would walk every row of that status through the
        # status index instead of these few rows by id
        .where(t_reminder.c.id.in_(ids), func.coalesce(t_reminder.c.status, "") == current)
        .values(**values),
        execution_options={"synchronize_session": False},
    )
    return int(cast(CursorResult[Any], result).rowcount or 0)
