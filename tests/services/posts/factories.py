"""Factories of the post tests: incidents written straight to the table (``crm.incidents`` arrives with its branch)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import update

from clinic_crm import ClinicCRM
from clinic_crm.models import Incident
from tests.conftest import T0


def open_incident(crm: ClinicCRM, clinic_id: int, *, drill: bool = False, at: datetime = T0) -> int:
    """Insert an open incident of the clinic (as ``crm.incidents.declare`` would leave it); return its id."""
    with crm.transaction() as tx:
        assert tx.session is not None
        incident = Incident(
            clinic_id=clinic_id,
            title="Water leak in the waiting room",
            crisis_type="public_accident",
            drill=drill,
            declared_at=at,
            declared_by="manager",
            first_statement_due_at=at + timedelta(hours=2),
        )
        tx.session.add(incident)
        tx.session.flush()
        assert incident.id is not None
        return incident.id


def close_incident(crm: ClinicCRM, incident_id: int, *, at: datetime = T0) -> None:
    """Mark the incident closed (as ``crm.incidents.close`` would)."""
    with crm.transaction() as tx:
        assert tx.session is not None
        tx.session.execute(
            update(Incident).where(Incident.id == incident_id).values(status="closed", closed_at=at)  # type: ignore[arg-type]
        )
