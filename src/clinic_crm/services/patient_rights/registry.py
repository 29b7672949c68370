"""The one registry of tables that hold a patient's records: merge moves them, export lists them, erasure redacts.

Survey invitations and responses hang off visits (``visit_id``), so they follow the visits.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table

from clinic_crm.models import metadata

__all__ = ["PatientReference", "PATIENT_REFERENCES", "reference_tables"]


@dataclass(frozen=True, slots=True)
class PatientReference:
    """A column pointing at the patient who owns the row.

    Attributes:
        table: the table's name in ``clinic_crm.models.metadata``.
        column: the column holding the patient's id.
        section: the key of these rows in ``export()``.
        omit: columns left out of the export (secrets, dispatcher internals).
        redact: free-text columns about the patient that erasure overwrites with ``"[erased]"``.
    """

    table: str
    column: str
    section: str
    omit: frozenset[str] = frozenset()
    redact: tuple[str, ...] = ()


PATIENT_REFERENCES: tuple[PatientReference, ...] = (
    PatientReference("consent_event", "patient_id", "consent"),
    PatientReference("visit", "patient_id", "visits"),
    PatientReference("care_plan", "patient_id", "care_plans"),
    PatientReference(
        "reminder",
        "patient_id",
        "reminders",
        # the payload carries survey-link tokens; the rest is the dispatcher's bookkeeping
        omit=frozenset(
            {"payload", "idempotency_key", "plan_key", "claim_token", "claimed_at", "last_error", "ready_at"}
        ),
    ),
    PatientReference("follow_up", "patient_id", "follow_ups"),
    # a complaint's words are the patient's: erasure overwrites them (the case, its deadlines and outcome stay)
    PatientReference("feedback_case", "patient_id", "cases", redact=("text", "resolution")),
    PatientReference("event_registration", "patient_id", "registrations"),
)


def reference_tables() -> list[tuple[PatientReference, Table]]:
    """The registry's entries with their tables (an entry whose table is not in this build is skipped)."""
    return [(ref, metadata.tables[ref.table]) for ref in PATIENT_REFERENCES if ref.table in metadata.tables]
