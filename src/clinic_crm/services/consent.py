"""Consent to be contacted, per channel and purpose, with every change kept.

``care`` messages are allowed until withdrawn; ``marketing`` needs an explicit grant.
The state at an instant is the latest event at or before it (ties: the later recorded).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.models import CHANNELS, PURPOSES, ConsentEvent, Patient
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.audit import record_audit
from clinic_crm.values import check_choice, utc, utcnow

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
    source = require_text(source, "source")
    when = utc(at, "at")
    get_or_404(session, Patient, patient_id)
    event = ConsentEvent(
        patient_id=patient_id,
        channel=channel,
        purpose=purpose,
        granted=granted,
        source=source,
        at=when,
        recorded_at=utcnow(),
    )
    session.add(event)
    session.flush()
    record_audit(session, [patient_id], "consent", {"channel": channel, "purpose": purpose, "granted": granted})
    return event


def has_consent(session: Session, patient_id: int, channel: str, purpose: str, *, at: datetime) -> bool:
    """Whether the patient may be contacted on ``channel`` for ``purpose`` at instant ``at``."""
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


def consent_history(session: Session, patient_id: int) -> list[ConsentEvent]:
    """Every consent change of the patient, oldest first."""
    get_or_404(session, Patient, patient_id)
    record_audit(session, [patient_id], "read", {"what": "consent_history"})
    query = select(ConsentEvent).where(col(ConsentEvent.patient_id) == patient_id)
    return list(session.scalars(query.order_by(col(ConsentEvent.at), col(ConsentEvent.id))))
