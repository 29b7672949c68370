"""The claim query's plan: PostgreSQL reads the partial index of claimable rows in claim order (no sort)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM
from clinic_crm.models import Clinic
from clinic_crm.services.reminders.dispatch import claim_query
from tests.conftest import T0


def test_postgres_claim_uses_the_claimable_index_without_sorting(crm: ClinicCRM, clinic: Clinic, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("the PostgreSQL plan (SQLite's claim is two covering-index range scans)")
    patient = crm.patients.register(clinic.id, family_name="Lin", given_name="Mei", phone="0912-345-678")
    for hours in range(50):
        crm.reminders.schedule(patient.id, kind="recall", purpose="care", due_at=T0 - timedelta(hours=hours))
    query = claim_query("postgresql", 100, T0).compile(crm.engine, compile_kwargs={"literal_binds": True})
    with crm.engine.connect() as conn:
        conn.execute(text("ANALYZE reminder"))
        conn.execute(text("SET enable_seqscan = off"))  # a tiny table would be scanned; ask what the index offers
        plan = "\n".join(row[0] for row in conn.execute(text(f"EXPLAIN {query}")))
    assert "ix_reminder_claimable" in plan
    assert "Sort" not in plan
