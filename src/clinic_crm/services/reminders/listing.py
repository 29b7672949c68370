"""Listing reminders and cancelling a pending one."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.models import Reminder
from clinic_crm.models.reminders import REMINDER_STATUSES
from clinic_crm.services._common import get_or_404
from clinic_crm.services.reminders._tables import t_reminder
from clinic_crm.values import check_choice

__all__ = ["list_reminders", "cancel_reminder"]


def list_reminders(
    session: Session,
    *,
    clinic_id: int | None = None,
    patient_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
) -> list[Reminder]:
    """Reminders matching every filter given, oldest due first (at most ``limit``).

    Raises:
        ValidationError: an unknown ``status``, a ``limit`` that is not a positive integer.
    """
    query = select(Reminder)
    if clinic_id is not None:
        query = query.where(t_reminder.c.clinic_id == clinic_id)
    if patient_id is not None:
        query = query.where(t_reminder.c.patient_id == patient_id)
    if status is not None:
        query = query.where(t_reminder.c.status == check_choice(status, REMINDER_STATUSES, "status"))
    if kind is not None:
        query = query.where(t_reminder.c.kind == kind)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit must be a positive integer", field="limit")
    return list(session.scalars(query.order_by(t_reminder.c.due_at, t_reminder.c.id).limit(limit)))


def cancel_reminder(session: Session, reminder_id: int) -> Reminder:
    """Cancel a pending reminder.

    Raises:
        NotFound: no such reminder.
        InvalidTransition: it is not pending (being sent, or already final).
    """
    reminder = get_or_404(session, Reminder, reminder_id, for_update=True)
    if reminder.status != "pending":
        raise InvalidTransition(
            f"reminder {reminder_id} is {reminder.status}; only pending reminders can be cancelled",
            current=reminder.status,
            requested="cancelled",
        )
    reminder.status = "cancelled"
    session.flush()
    return reminder
