"""The audit trail: who read or changed which patient's data, each event hash-chained to the one before it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import Column, Index, Integer
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["AUDIT_ACTIONS", "AuditEvent", "AuditHead"]

#: What an audit event records.
AUDIT_ACTIONS = ("read", "create", "update", "consent", "import", "export", "merge", "erase")


class AuditEvent(Base, table=True):
    """One read or change of a patient's data: when, by whom, what; never the patient's name, phone or e-mail.

    ``hash`` is ``sha256(prev_hash + canonical(id, at, actor, action, patient_id, detail))`` and
    ``prev_hash`` the ``hash`` of the event before it (ids are consecutive), so an edited or deleted
    row breaks the chain (``crm.audit.verify()``).  ``detail`` is compact JSON (sorted keys).
    """

    __tablename__ = "audit_event"
    __table_args__ = (Index(None, "patient_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # when it was recorded
    actor: str = Field(max_length=200)  # ClinicCRM(actor=…) / crm.as_actor(…)
    action: str = Field(max_length=20)  # one of AUDIT_ACTIONS
    patient_id: int | None = Field(default=None)  # None: an event about many (an import's summary)
    detail: str = Field(max_length=2000)  # compact JSON object: ids, field names, counts; never patient data
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)

    @property
    def details(self) -> dict[str, Any]:
        """``detail`` parsed: a dict of ids, field names and counts."""
        value: dict[str, Any] = json.loads(self.detail)
        return value

    def __repr__(self) -> str:
        return f"AuditEvent(id={self.id!r}, action={self.action!r}, patient_id={self.patient_id!r})"

    __str__ = __repr__


class AuditHead(Base, table=True):
    """The tail of the audit chain (one row, id 1): the last event's id and hash; writers lock it in turn."""

    __tablename__ = "audit_head"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=False))
    last_id: int = Field(default=0)
    last_hash: str = Field(max_length=64)
