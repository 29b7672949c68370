"""Erasure: a patient's identity pseudonymised and contact data cleared; clinical history and statistics kept."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from clinic_crm.errors import Conflict
from clinic_crm.models import CHANNELS, PURPOSES, CarePlan, InboundReply, Patient, Reminder
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.audit import record_audit
from clinic_crm.services.consent import record_consents
from clinic_crm.services.patient_names import names_changed
from clinic_crm.services.patient_rights.merge import merged_records
from clinic_crm.services.patient_rights.registry import reference_tables
from clinic_crm.values import aware

__all__ = ["erase_patient", "ERASED_FAMILY_NAME", "REDACTED"]

#: The family name of an erased patient; the given name is a random token (``Erased`` + ``7f3a9c1e``).
ERASED_FAMILY_NAME = "Erased"
#: What erasure writes over free text about the patient (the registry's ``redact`` columns).
REDACTED = "[erased]"

_REMINDER = cast(Table, Reminder.__table__)  # type: ignore[attr-defined]
_CARE_PLAN = cast(Table, CarePlan.__table__)  # type: ignore[attr-defined]
_PATIENT = cast(Table, Patient.__table__)  # type: ignore[attr-defined]
_REPLY = cast(Table, InboundReply.__table__)  # type: ignore[attr-defined]


def erase_patient(session: Session, patient_id: int, *, at: datetime, by: str, reason: str) -> Patient:
    """Erase a patient's identity: what is needed to recognise or contact them goes; history and statistics stay.

    The names become a pseudonym (family ``"Erased"``, given a random token); phone, e-mail, birth date
    and external id are cleared; pending reminders are cancelled; care plans end; consent is withdrawn on
    every channel for every purpose (source ``"erasure"``); free text about the patient in the registry's
    tables (feedback cases) is redacted.  Visits, survey answers and follow-ups stay, so statistics do not
    change.  Records merged into this patient are erased with it.  Nothing is sent to an erased patient
    afterwards: ``dispatch`` suppresses (reason ``"erased"``), ``plan`` skips them and ``schedule`` refuses.

    Args:
        patient_id: the patient (not a record merged into another: erase the one it was merged into).
        at: when the erasure takes effect (aware).
        by: the member of staff erasing.
        reason: why (e.g. ``"patient request 2026-03-02"``); kept on the record, never a patient's data.

    Returns:
        The erased patient (``erased_at`` set).

    Raises:
        NotFound: no such patient.
        ValidationError: empty ``by`` or ``reason``.
        NaiveDatetimeError: ``at`` without a time zone.
        Conflict: erased already, or merged into another record.
    """
    when = aware(at, "at")
    by = require_text(by, "by")
    reason = require_text(reason, "reason", max_length=500)
    patient = get_or_404(session, Patient, patient_id, for_update=True)
    if patient.erased_at is not None:
        raise Conflict(f"patient {patient_id} was erased already")
    if patient.merged_into_id is not None:
        raise Conflict(f"patient {patient_id} was merged into patient {patient.merged_into_id}; erase that one")
    ids = [patient_id, *merged_records(session, patient_id)]
    phones = set(session.scalars(select(_PATIENT.c.phone).where(_PATIENT.c.id.in_(ids), _PATIENT.c.phone.is_not(None))))
    session.execute(
        update(_PATIENT)
        .where(_PATIENT.c.id.in_(ids))
        .values(
            family_name=ERASED_FAMILY_NAME,
            given_name=secrets.token_hex(4),
            phone=None,
            email=None,
            birth_date=None,
            external_id=None,
            erased_at=when,
            erased_by=by,
            erasure_reason=reason,
            updated_at=when,
        )
    )
    cancelled = session.execute(
        update(_REMINDER)
        .where(_REMINDER.c.patient_id.in_(ids), _REMINDER.c.status == "pending")
        .values(status="cancelled", claim_token=None)
    ).rowcount  # type: ignore[attr-defined]
    ended = session.execute(
        update(_CARE_PLAN).where(_CARE_PLAN.c.patient_id.in_(ids), _CARE_PLAN.c.active.is_(True)).values(active=False)
    ).rowcount  # type: ignore[attr-defined]
    # SMS replies are kept by number: their words go with the patient, unless someone else of the clinic still
    # has that number (a family phone: the reply may be theirs)
    still_used = set(
        session.scalars(
            select(_PATIENT.c.phone).where(_PATIENT.c.clinic_id == patient.clinic_id, _PATIENT.c.phone.in_(phones))
        )
    )
    if phones - still_used:
        session.execute(
            update(_REPLY)
            .where(_REPLY.c.clinic_id == patient.clinic_id, _REPLY.c.phone.in_(phones - still_used))
            .values(text=REDACTED)
        )
    for ref, table in reference_tables():
        for name in ref.redact:
            session.execute(
                update(table).where(table.c[ref.column].in_(ids), table.c[name].is_not(None)).values({name: REDACTED})
            )
    names_changed(session, patient.clinic_id)
    session.expire_all()
    record_consents(session, [patient_id], CHANNELS, PURPOSES, granted=False, source="erasure", at=when)
    detail = {"by": by, "records": ids, "cancelled_reminders": int(cancelled), "ended_care_plans": int(ended)}
    record_audit(session, ids, "erase", detail)
    return get_or_404(session, Patient, patient_id)
