"""The one record that the names of a clinic's patients changed: a counter raised in the writing transaction.

Every call that adds a patient or changes a name (``register``, ``update``, an import, ``erase``) calls
:func:`names_changed`; the reply check (``services/reputation/guard.py``) reads :data:`NAMES_VERSION` to know
whether the name index it keeps is still current.  The counter is raised by one upsert, so it is exact whatever
the callers' clocks or the order in which concurrent transactions commit (a time stamp or the highest id can
miss a change for both reasons).  On PostgreSQL the upsert holds the clinic's counter row until the transaction
ends, so two transactions changing the names of one clinic's patients commit one after the other.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from clinic_crm.models import PatientNamesVersion

__all__ = ["names_changed", "NAMES_VERSION"]

_TABLE = PatientNamesVersion.__table__  # type: ignore[attr-defined]

#: The clinic's counter (``None`` before its first change), as a scalar subquery keyed by ``:clinic_id``.
NAMES_VERSION = select(_TABLE.c.version).where(_TABLE.c.clinic_id == bindparam("clinic_id")).scalar_subquery()

# The same statement on SQLite (3.24+) and PostgreSQL.
_RAISE = text(
    "INSERT INTO patient_names_version (clinic_id, version) VALUES (:clinic_id, 1) "
    "ON CONFLICT (clinic_id) DO UPDATE SET version = patient_names_version.version + 1"
)


def names_changed(session: Session, clinic_id: int) -> None:
    """Record, in the session's transaction, that a patient of the clinic was added or renamed."""
    session.execute(_RAISE, {"clinic_id": clinic_id})
