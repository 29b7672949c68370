"""Consent to be contacted, per channel and purpose, with every change kept.

``care`` messages are allowed until withdrawn; ``marketing`` needs an explicit grant.
The state at an instant is the latest event at or before it (ties: the later recorded).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.models import CHANNELS, PURPOSES, ConsentEvent, Patient
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.audit import record_audit
from clinic_crm.values import check_choice, utc, utcnow

__all__ = [
    "DEFAULT_CONSENT",
    "record_consent",
    "grant_consent",
    "withdraw_consent",
    "record_consents",
    "has_consent",
    "consent_history",
]

#: Whether a purpose is allowed when the patient never said anything about it.
DEFAULT_CONSENT = {"care": True, "marketing": False}


def record_consent(
    session: Session,
    patient_id: int,
    channel: str,
    purpose: str,
    *,
    granted: bool,
    source: str,
    at: datetime | None = None,
) -> ConsentEvent:
    """Append a grant (``granted=True``) or withdrawal to the patient's consent history.

    Raises:
        NotFound: no such patient.
        ValidationError: unknown channel or purpose, empty source, naive ``at``.
    """
    channel = check_choice(channel, CHANNELS, "channel")
    purpose = check_choice(purpose, PURPOSES, "purpose")
    get_or_404(session, Patient, patient_id)
    [event] = record_consents(session, [patient_id], (channel,), (purpose,), granted=granted, source=source, at=at)
    return event


def grant_consent(
    session: Session, patient_id: int, channel: str, purpose: str, *, source: str, at: datetime | None = None
) -> ConsentEvent:
    """Record that the patient agreed to ``purpose`` messages (``care``/``marketing``) on ``channel``.

    Raises:
        NotFound: no such patient.
        ValidationError, NaiveDatetimeError: unknown channel or purpose, empty source, naive ``at``.
    """
    return record_consent(session, patient_id, channel, purpose, granted=True, source=source, at=at)


def withdraw_consent(
    session: Session, patient_id: int, channel: str, purpose: str, *, source: str, at: datetime | None = None
) -> ConsentEvent:
    """Record that the patient withdrew consent for ``purpose`` messages (``care``/``marketing``) on ``channel``.

    Raises:
        NotFound: no such patient.
        ValidationError, NaiveDatetimeError: unknown channel or purpose, empty source, naive ``at``.
    """
    return record_consent(session, patient_id, channel, purpose, granted=False, source=source, at=at)


def record_consents(
    session: Session,
    patient_ids: Sequence[int],
    channels: Sequence[str],
    purposes: Sequence[str],
    *,
    granted: bool,
    source: str,
    at: datetime | None = None,
) -> list[ConsentEvent]:
    """The one writer of consent: append a grant or withdrawal for every patient × channel × purpose given.

    Used by grants and withdrawals, SMS opt-out replies, merges and erasure; one audit event per patient.
    The patients must exist (callers found them).

    Raises:
        ValidationError: unknown channel or purpose, empty source, naive ``at``.
    """
    for channel in channels:
        check_choice(channel, CHANNELS, "channel")
    for purpose in purposes:
        check_choice(purpose, PURPOSES, "purpose")
    source = require_text(source, "source")
    when = utc(at, "at")
    recorded = utcnow()
    events = [
        ConsentEvent(
            patient_id=pid,
            channel=channel,
            purpose=purpose,
            granted=granted,
            source=source,
            at=when,
            recorded_at=recorded,
        )
        for pid in patient_ids
        for channel in channels
        for purpose in purposes
    ]
    session.add_all(events)
    session.flush()
    if patient_ids:
        detail: dict[str, object] = {"granted": granted}
        detail |= {"channel": channels[0]} if len(channels) == 1 else {"channels": list(channels)}
        detail |= {"purpose": purposes[0]} if len(purposes) == 1 else {"purposes": list(purposes)}
        record_audit(session, list(patient_ids), "consent", detail)
    return events


@reads
def has_consent(session: Session, patient_id: int, channel: str, purpose: str, *, at: datetime | None = None) -> bool:
    """Whether the patient may be contacted on ``channel`` for ``purpose`` at instant ``at`` (default now).

    Raises:
        ValidationError: an unknown channel or purpose.
        NaiveDatetimeError: ``at`` is naive.
    """
    channel = check_choice(channel, CHANNELS, "channel")
    purpose = check_choice(purpose, PURPOSES, "purpose")
    at = utc(at, "at")
    query = (
        select(col(ConsentEvent.granted))
        .where(
            col(ConsentEvent.patient_id) == patient_id,
            col(ConsentEvent.channel) == channel,
            col(ConsentEvent.purpose) == purpose,
            col(ConsentEvent.at) <= at,
        )
        .order_by(col(ConsentEvent.at).desc(), col(ConsentEvent.id).desc())
        .limit(1)
    )
    latest = session.scalars(query).first()
    return DEFAULT_CONSENT[purpose] if latest is None else bool(latest)


@reads
def consent_history(session: Session, patient_id: int) -> list[ConsentEvent]:
    """Every grant and withdrawal of the patient, oldest first."""
    get_or_404(session, Patient, patient_id)
    record_audit(session, [patient_id], "read", {"what": "consent_history"})
    query = select(ConsentEvent).where(col(ConsentEvent.patient_id) == patient_id)
    return list(session.scalars(query.order_by(col(ConsentEvent.at), col(ConsentEvent.id))))
