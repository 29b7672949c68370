"""Crisis readiness: incidents (the risk register, crisis team, playbooks and statements join them here)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["CRISIS_TYPES", "INCIDENT_SEVERITIES", "Incident"]

CRISIS_TYPES = (
    "data_breach",
    "medical_error",
    "infection",
    "public_accident",
    "service_outage",
    "negative_publicity",
    "other",
)
INCIDENT_SEVERITIES = ("minor", "major", "critical")


class Incident(Base, table=True):
    """Something that happened and is being handled: its clocks (first statement within 2 h, updates) and status."""

    __tablename__ = "incident"
    __table_args__ = (Index(None, "clinic_id", "status"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    title: str = Field(max_length=300)
    crisis_type: str = Field(max_length=40)  # one of CRISIS_TYPES
    severity: str = Field(default="major", max_length=20)  # one of INCIDENT_SEVERITIES
    drill: bool = Field(default=False)  # a rehearsal: pauses and publishes nothing outside
    status: str = Field(default="open", max_length=20)  # "open" | "closed"
    declared_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    declared_by: str = Field(max_length=200)
    first_statement_due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    first_statement_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    next_update_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    summary: str | None = Field(default=None, max_length=4000)  # written when it is closed
    case_id: int | None = Field(default=None)  # the feedback case it started from
    alert_id: int | None = Field(default=None)  # the reputation alert it started from
