"""Creating reminder rows: the one place a ``Reminder`` is born."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from clinic_crm.models import CHANNELS, PURPOSES, Patient, Reminder, Visit
from clinic_crm.errors import ValidationError
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.values import aware, check_choice, utc


def new_reminder(
    session: Session,
    patient_id: int,
    *,
    kind: str,
    purpose: str,
    due_at: datetime,
    channel: str | None = None,
    visit_id: int | None = None,
    care_plan_id: int | None = None,
    payload: dict[str, Any] | None = None,
    plan_key: str | None = None,
    now: datetime | None = None,
) -> Reminder:
    """Validate and add a pending reminder (flushed, not committed).

    Raises:
        NotFound: no such patient or visit.
        ValidationError, NaiveDatetimeError: malformed input; the visit belongs to another patient.
    """
    kind = require_text(kind, "kind", max_length=100)
    purpose = check_choice(purpose, PURPOSES, "purpose")
    if channel is not None:
        channel = check_choice(channel, CHANNELS, "channel")
    due = aware(due_at, "due_at")
    patient = get_or_404(session, Patient, patient_id)
    if visit_id is not None:
        visit = get_or_404(session, Visit, visit_id)
        if visit.patient_id != patient_id:
            raise ValidationError("visit_id belongs to another patient", field="visit_id")
    reminder = Reminder(
        clinic_id=patient.clinic_id,
        patient_id=patient_id,
        visit_id=visit_id,
        care_plan_id=care_plan_id,
        kind=kind,
        purpose=purpose,
        channel=channel,
        due_at=due,
        ready_at=due,
        status="pending",
        attempts=0,
        idempotency_key=uuid.uuid4().hex,
        plan_key=plan_key,
        payload=dict(payload or {}),
        created_at=utc(now),
    )
    session.add(reminder)
    session.flush()
    return reminder
