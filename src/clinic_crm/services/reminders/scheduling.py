"""Creating one checked reminder (its column values from ``rows.reminder_values``), one-off schedules, recall plans."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dateutil.relativedelta import relativedelta
from dateutil.rrule import rrule, rrulestr
from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.errors import Conflict, ValidationError
from clinic_crm.models import CHANNELS, PURPOSES, CarePlan, Patient, Reminder, Visit
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.reminders.rows import new_key, reminder_values
from clinic_crm.values import aware, check_choice, utc, zone

__all__ = [
    "check_payload",
    "MAX_RECALL",
    "new_reminder",
    "schedule_reminder",
    "add_recall",
    "Every",
    "parse_every",
    "get_reminder",
    "recurrence",
]


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
    expires_at: datetime | None = None,
) -> Reminder:
    """Validate and add a pending reminder (flushed, not committed).

    Args:
        kind: what the message is about (``"appointment"``, ``"survey"``, ``"dental_recall"``…);
            picks the template.
        purpose: ``"care"`` or ``"marketing"`` (consent is checked per purpose).
        due_at: when it may be sent.
        channel: ``"sms"``, ``"email"`` or ``None`` (chosen at send time: SMS when the patient has a phone).
        payload: template data, e.g. ``{"url": ..., "survey_name": ...}`` for a survey invitation.
        plan_key: a unique key that makes planning idempotent.
        expires_at: past this instant the reminder is suppressed ``"expired"`` instead of sent.

    Raises:
        NotFound: no such patient or visit.
        ValidationError, NaiveDatetimeError: malformed input; the visit belongs to another patient.
        Conflict: the patient was erased, or merged into another record.
    """
    kind = require_text(kind, "kind", max_length=100)
    purpose = check_choice(purpose, PURPOSES, "purpose")
    if channel is not None:
        channel = check_choice(channel, CHANNELS, "channel")
    due = aware(due_at, "due_at")
    expires = None if expires_at is None else aware(expires_at, "expires_at")
    if payload is not None:
        check_payload(payload)
    patient = get_or_404(session, Patient, patient_id)
    if patient.erased_at is not None or patient.merged_into_id is not None:
        gone = "erased" if patient.erased_at is not None else f"merged into patient {patient.merged_into_id}"
        raise Conflict(f"patient {patient_id} was {gone}: no message may be scheduled for this record")
    if visit_id is not None:
        visit = get_or_404(session, Visit, visit_id)
        if visit.patient_id != patient_id:
            raise ValidationError("visit_id belongs to another patient", field="visit_id")
    reminder = Reminder(
        **reminder_values(
            clinic_id=patient.clinic_id,
            patient_id=patient_id,
            visit_id=visit_id,
            care_plan_id=care_plan_id,
            kind=kind,
            purpose=purpose,
            channel=channel,
            due_at=due,
            expires_at=expires,
            idempotency_key=new_key(),
            plan_key=plan_key,
            payload=dict(payload or {}),
            created_at=utc(now),
        )
    )
    session.add(reminder)
    session.flush()
    return reminder


def check_payload(payload: object) -> dict[str, Any]:
    """``payload`` when it is a dict that JSON stores as given (str keys; no sets, bytes, NaN or infinities).

    Raises:
        ValidationError: anything else (``.field == "payload"``).
    """
    if not isinstance(payload, dict):
        raise ValidationError("payload must be a dict", field="payload")
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError):
        raise ValidationError(
            "payload must hold only JSON values (str keys; str, int, finite float, bool, None, lists, dicts)",
            field="payload",
        ) from None
    return payload


def schedule_reminder(
    session: Session,
    patient_id: int,
    *,
    kind: str,
    purpose: str,
    due_at: datetime,
    channel: str | None = None,
    visit_id: int | None = None,
    payload: dict[str, Any] | None = None,
    expires_at: datetime | None = None,
) -> Reminder:
    """Schedule one message to a patient (status ``"pending"``); see :func:`new_reminder`."""
    return new_reminder(
        session,
        patient_id,
        kind=kind,
        purpose=purpose,
        due_at=due_at,
        channel=channel,
        visit_id=visit_id,
        payload=payload,
        expires_at=expires_at,
    )


@reads
def get_reminder(session: Session, reminder_id: int) -> Reminder:
    """Return the reminder or raise ``NotFound``."""
    return get_or_404(session, Reminder, reminder_id)


#: The longest recall interval accepted (text or RRULE): ten years.  Longer ones are almost surely typos, and
#: intervals near datetime's limits would make planning overflow.
MAX_RECALL = relativedelta(years=10)
_MAX_COUNT = {"day": 3653, "week": 522, "month": 120, "year": 10}

_TEXT = re.compile(r"^\s*(?:every\s+)?(\d{1,4})\s*(day|week|month|year)s?\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Every:
    """A parsed recall interval: a ``relativedelta`` step (``"6 months"``) or an RFC 5545 rule."""

    text: str
    delta: relativedelta | None = None
    rule: str | None = None

    def next_after(self, anchor: datetime, timezone: str) -> datetime:
        """The first due instant after ``anchor``, computed on the local wall clock of ``timezone``.

        ``"1 month"`` after 31 January is 28/29 February (as ``relativedelta`` does); an RRULE is
        expanded with the anchor's local time as ``DTSTART`` and its first occurrence after it is taken.
        """
        tz = zone(timezone)
        local = anchor.astimezone(tz).replace(tzinfo=None)
        if self.delta is not None:
            wall = local + self.delta
        else:
            assert self.rule is not None
            occurrence = recurrence(self.rule, local).after(local)
            if occurrence is None:
                raise ValidationError("every: the RRULE has no occurrence after the visit", field="every")
            wall = occurrence
        return wall.replace(tzinfo=tz).astimezone(anchor.tzinfo)


def recurrence(text: str, dtstart: datetime) -> rrule:
    """The ``dateutil`` rule of an RRULE text, started at the naive local ``dtstart``."""
    parsed = rrulestr(text, dtstart=dtstart, forceset=False)
    if not isinstance(parsed, rrule):
        raise ValidationError("every must be a single RRULE, not a set", field="every")
    return parsed


def parse_every(value: object) -> Every:
    """Parse a recall interval: ``"6 months"``, ``"2 weeks"``, ``"1 year"``, ``"10 days"`` or an RRULE.

    RRULEs are RFC 5545 text such as ``"FREQ=MONTHLY;INTERVAL=6"`` or ``"RRULE:FREQ=YEARLY"``,
    without ``DTSTART`` (the last completed visit is the start).

    Raises:
        ValidationError: anything else (``.field == "every"``).
    """
    text = require_text(value, "every", max_length=500)
    match = _TEXT.match(text)
    if match:
        count, unit = int(match.group(1)), match.group(2).lower()
        if count < 1:
            raise ValidationError("every must be a positive interval such as '6 months'", field="every")
        if count > _MAX_COUNT[unit]:
            raise ValidationError("every must be at most 10 years", field="every")
        return Every(text=text, delta=relativedelta(**{f"{unit}s": count}))  # type: ignore[arg-type]
    upper = text.upper()
    if "FREQ=" not in upper or "DTSTART" in upper:
        raise ValidationError(
            "every must be text like '6 months', '2 weeks', '1 year' or an RRULE like 'FREQ=MONTHLY;INTERVAL=6' "
            "(without DTSTART)",
            field="every",
        )
    probe = datetime(2026, 1, 31, 10, 0)
    try:
        rule = recurrence(text, probe)
        first = rule.after(probe)
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ValidationError("every is not a valid RFC 5545 RRULE", field="every") from exc
    if first is None:
        raise ValidationError("every: the RRULE never recurs", field="every")
    if first > probe + MAX_RECALL:
        raise ValidationError("every must recur within 10 years", field="every")
    return Every(text=text, rule=text)


def add_recall(
    session: Session,
    patient_id: int,
    *,
    kind: str,
    every: str,
    after_visit_kind: str,
    channel: str | None = None,
    now: datetime | None = None,
) -> CarePlan:
    """Add a recall plan: remind the patient ``every`` after their last completed visit of a kind.

    Raises:
        NotFound: no such patient.
        ValidationError: malformed ``kind``, ``every``, ``after_visit_kind`` or ``channel``.
    """
    kind = require_text(kind, "kind", max_length=100)
    parsed = parse_every(every)
    after_visit_kind = require_text(after_visit_kind, "after_visit_kind", max_length=100)
    if channel is not None:
        channel = check_choice(channel, CHANNELS, "channel")
    get_or_404(session, Patient, patient_id)
    plan = CarePlan(
        patient_id=patient_id,
        kind=kind,
        every=parsed.text,
        after_visit_kind=after_visit_kind,
        channel=channel,
        active=True,
        created_at=utc(now),
    )
    session.add(plan)
    session.flush()
    return plan
