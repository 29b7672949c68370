"""Merging two records of one patient into one, in one transaction, losing nothing and sending nothing twice."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, exists, func, select, update
from sqlalchemy.orm import Session, aliased

from clinic_crm.errors import Conflict, ValidationError
from clinic_crm.models import CHANNELS, PURPOSES, CarePlan, ConsentEvent, Patient, Reminder
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.audit import record_audit
from clinic_crm.services.consent import record_consent
from clinic_crm.services.patient_rights.merge_registrations import cancel_duplicate_registrations
from clinic_crm.services.patient_rights.registry import reference_tables
from clinic_crm.values import aware

__all__ = ["merge_patients", "merged_records", "resolve_consent", "PATIENT_KEYED_PLANS"]

_REMINDER = cast(Table, Reminder.__table__)  # type: ignore[attr-defined]
_CARE_PLAN = cast(Table, CarePlan.__table__)  # type: ignore[attr-defined]
_CONSENT = cast(Table, ConsentEvent.__table__)  # type: ignore[attr-defined]
_PATIENT = cast(Table, Patient.__table__)  # type: ignore[attr-defined]

#: Plan-key prefixes of planned reminders keyed by the patient's id (``birthday:<patient>:<year>``,
#: ``greeting:<greeting>:<year>:<patient>``, see ``services/reminders/planning.py``): a merged record's
#: pending ones are re-keyed to the kept patient, or cancelled when the kept patient has that key already.
PATIENT_KEYED_PLANS = ("birthday:", "greeting:")

#: Reminders of the kept patient that a pending one of the merged record would duplicate.
_LIVE = ("pending", "sending", "sent")


def resolve_consent(events: list[tuple[datetime, bool]]) -> bool | None:
    """The consent two merged records give: the latest explicit event of either; a withdrawal wins a tie.

    Args:
        events: ``(at, granted)`` of both records for one channel and purpose.

    Returns:
        ``True``/``False``, or ``None`` when neither record ever said anything (the purpose's default holds).
    """
    if not events:
        return None
    latest = max(at for at, _granted in events)
    return all(granted for at, granted in events if at == latest)


def merge_patients(session: Session, keep_id: int, merge_id: int, *, at: datetime, by: str) -> Patient:
    """Merge the record ``merge_id`` into ``keep_id`` (two registrations of one patient), in one transaction.

    Visits (with their survey invitations and responses), care plans, reminders, follow-ups, consent
    events and every other record of the registry move to the kept patient.  A pending reminder of the
    merged record that would duplicate one of the kept patient's (same kind, visit and due time) is
    cancelled, and so is a duplicate active care plan (same kind and visit kind).  Where both records hold a
    place at one event, one registration is kept (a confirmed seat over a waitlist place, else the earlier) and
    the other cancelled, its seats freed for the waitlist (``merge_registrations``).  Consent per channel ×
    purpose becomes the latest explicit event of either record, a withdrawal winning a tie (written as a
    consent event with source ``"merge"`` where the moved history alone would say otherwise).  Blank
    phone, e-mail, birth date and external id of the kept patient are filled from the merged record.
    The merged record stays, marked ``merged_into_id``; ``get(merge_id)`` returns the kept patient.

    Args:
        keep_id: the record that stays.
        merge_id: the record merged into it.
        at: when the merge takes effect (aware).
        by: the member of staff merging.

    Returns:
        The kept patient.

    Raises:
        NotFound: no such patient.
        ValidationError: ``keep_id == merge_id``, patients of different clinics, empty ``by``.
        NaiveDatetimeError: ``at`` without a time zone.
        Conflict: either record was merged already, or erased.
    """
    when = aware(at, "at")
    by = require_text(by, "by")
    if keep_id == merge_id:
        raise ValidationError("a patient cannot be merged into itself", field="merge_id")
    order = (keep_id, merge_id)
    if isinstance(keep_id, int) and isinstance(merge_id, int) and merge_id < keep_id:
        order = (merge_id, keep_id)  # lock the lower id first: two merges of one pair never deadlock
    locked = {ident: get_or_404(session, Patient, ident, for_update=True) for ident in order}
    keep, merged = locked[keep_id], locked[merge_id]
    if keep.clinic_id != merged.clinic_id:
        raise ValidationError("both patients must belong to the same clinic", field="merge_id")
    for record in (keep, merged):
        if record.merged_into_id is not None:
            raise Conflict(f"patient {record.id} was merged into patient {record.merged_into_id} already")
        if record.erased_at is not None:
            raise Conflict(f"patient {record.id} was erased; erased records cannot be merged")
    kept_id, gone_id = keep.id, merged.id
    dropped = cancel_duplicate_registrations(session, kept_id, gone_id, when)
    cancelled = _cancel_duplicate_reminders(session, kept_id, gone_id)
    moved: dict[str, int] = {}
    for ref, table in reference_tables():
        column = table.c[ref.column]
        result = session.execute(update(table).where(column == gone_id).values({ref.column: kept_id}))
        moved[ref.section] = int(result.rowcount)  # type: ignore[attr-defined]
    session.expire_all()  # ORM objects of moved rows must not keep the old patient id
    _resolve_consent(session, kept_id, when)
    _fill_blanks(session, kept_id, gone_id)
    merged = get_or_404(session, Patient, gone_id)
    merged.merged_into_id = kept_id
    merged.merged_at = when
    merged.merged_by = by
    keep = get_or_404(session, Patient, kept_id)
    keep.updated_at = when
    session.flush()
    detail: dict[str, Any] = {"kept": kept_id, "merged": gone_id, "by": by, "moved": moved, "cancelled": cancelled}
    if dropped:
        detail["registrations_cancelled"] = dropped
    record_audit(session, [kept_id, gone_id], "merge", detail)
    return keep


def _cancel_duplicate_reminders(session: Session, keep_id: int, merge_id: int) -> int:
    """Cancel what would go out twice after the merge; re-key the merged record's patient-keyed plans."""
    mine = aliased(_REMINDER)
    duplicate = exists().where(
        mine.c.patient_id == keep_id,
        mine.c.kind == _REMINDER.c.kind,
        func.coalesce(mine.c.visit_id, 0) == func.coalesce(_REMINDER.c.visit_id, 0),
        mine.c.due_at == _REMINDER.c.due_at,
        mine.c.status.in_(_LIVE),
    )
    cancelled = session.execute(
        update(_REMINDER)
        .where(_REMINDER.c.patient_id == merge_id, _REMINDER.c.status == "pending", duplicate)
        .values(status="cancelled", claim_token=None)
    ).rowcount  # type: ignore[attr-defined]
    # a duplicate recall plan would plan every recall twice: end it, and cancel what it planned
    twin = aliased(_CARE_PLAN)
    plan_twin = exists().where(
        twin.c.patient_id == keep_id,
        twin.c.active.is_(True),
        twin.c.kind == _CARE_PLAN.c.kind,
        twin.c.after_visit_kind == _CARE_PLAN.c.after_visit_kind,
    )
    ended = [
        row[0]
        for row in session.execute(
            update(_CARE_PLAN)
            .where(_CARE_PLAN.c.patient_id == merge_id, _CARE_PLAN.c.active.is_(True), plan_twin)
            .values(active=False)
            .returning(_CARE_PLAN.c.id)
        )
    ]
    if ended:
        cancelled += session.execute(
            update(_REMINDER)
            .where(_REMINDER.c.care_plan_id.in_(ended), _REMINDER.c.status == "pending")
            .values(status="cancelled", claim_token=None)
        ).rowcount  # type: ignore[attr-defined]
    # birthday/greeting rows carry the patient's id in their plan key: the kept patient's plan would make them again
    keyed = session.execute(
        select(_REMINDER.c.id, _REMINDER.c.plan_key).where(
            _REMINDER.c.patient_id == merge_id,
            _REMINDER.c.status == "pending",
            _REMINDER.c.plan_key.is_not(None),
        )
    ).all()
    for reminder_id, key in keyed:
        if not key.startswith(PATIENT_KEYED_PLANS):
            continue
        parts = key.split(":")
        position = 1 if key.startswith("birthday:") else len(parts) - 1
        if parts[position] != str(merge_id):
            continue
        parts[position] = str(keep_id)
        new_key = ":".join(parts)
        taken = session.execute(select(_REMINDER.c.id).where(_REMINDER.c.plan_key == new_key)).first()
        values: dict[str, Any] = {"status": "cancelled", "claim_token": None} if taken else {"plan_key": new_key}
        cancelled += 1 if taken else 0
        session.execute(update(_REMINDER).where(_REMINDER.c.id == reminder_id).values(values))
    return int(cancelled)


def _resolve_consent(session: Session, keep_id: int, when: datetime) -> None:
    """After the move: where the history read as usual (latest, then last recorded) disagrees with the merge rule."""
    rows = session.execute(
        select(_CONSENT.c.channel, _CONSENT.c.purpose, _CONSENT.c.at, _CONSENT.c.granted, _CONSENT.c.id)
        .where(_CONSENT.c.patient_id == keep_id)
        .order_by(_CONSENT.c.at, _CONSENT.c.id)
    ).all()
    history: dict[tuple[str, str], list[tuple[datetime, bool]]] = {}
    for channel, purpose, event_at, granted, _id in rows:
        history.setdefault((channel, purpose), []).append((event_at, bool(granted)))
    for channel in CHANNELS:
        for purpose in PURPOSES:
            events = history.get((channel, purpose), [])
            wanted = resolve_consent(events)
            if wanted is None:
                continue
            as_read = events[-1][1]  # ordered by (at, id): what has_consent reads once every event is past
            if as_read != wanted:
                latest = events[-1][0]
                record_consent(session, keep_id, channel, purpose, granted=wanted, source="merge", at=max(when, latest))


def _fill_blanks(session: Session, keep_id: int, merge_id: int) -> None:
    keep = get_or_404(session, Patient, keep_id)
    merged = get_or_404(session, Patient, merge_id)
    for name in ("phone", "email", "birth_date"):
        if getattr(keep, name) is None and getattr(merged, name) is not None:
            setattr(keep, name, getattr(merged, name))
    if keep.external_id is None and merged.external_id is not None:
        # unique per clinic: take it off the merged record first
        external_id, merged.external_id = merged.external_id, None
        session.flush()
        keep.external_id = external_id
    session.flush()


def merged_records(session: Session, patient_id: int) -> list[int]:
    """Ids of the records merged into ``patient_id``, directly or through a chain of merges, ascending."""
    found: list[int] = []
    frontier = [patient_id]
    while frontier:
        query = select(_PATIENT.c.id).where(_PATIENT.c.merged_into_id.in_(frontier))
        frontier = [int(ident) for ident in session.scalars(query)]
        found.extend(frontier)
    return sorted(found)
