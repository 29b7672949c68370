"""The registry of patient-owned tables covers every column that points at a patient (merge and export use it)."""

from __future__ import annotations

from clinic_crm.models import metadata
from clinic_crm.services.patient_rights.registry import PATIENT_REFERENCES, reference_tables


def test_every_patient_foreign_key_is_registered() -> None:
    pointing = {
        (table.name, column.name)
        for table in metadata.tables.values()
        for column in table.columns
        for key in column.foreign_keys
        if key.column.table.name == "patient" and table.name != "patient"
    }
    registered = {(ref.table, ref.column) for ref in PATIENT_REFERENCES}
    # a table added with a patient_id (feedback cases, event registrations) must be added to the registry
    assert pointing <= registered, f"add to PATIENT_REFERENCES: {sorted(pointing - registered)}"


def test_registered_columns_and_redactions_exist() -> None:
    for ref, table in reference_tables():
        assert ref.column in table.c
        assert set(ref.omit) <= set(table.c.keys())
        assert set(ref.redact) <= set(table.c.keys())
        assert ref.section not in {"patient", "audit", "survey_responses", "format", "version"}
    assert len({ref.section for ref in PATIENT_REFERENCES}) == len(PATIENT_REFERENCES)
