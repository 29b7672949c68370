"""Crisis readiness: the risk register, the crisis plan (team, contacts, playbooks, approvers), incidents,
their append-only timeline and their approved, versioned statements."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlalchemy.orm import relationship
from sqlmodel import Field, Relationship

from clinic_crm.models._base import Base, UTCDateTime

__all__ = [
    "CRISIS_TYPES",
    "INCIDENT_SEVERITIES",
    "RISK_CATEGORIES",
    "TEAM_ROLES",
    "CONTACT_KINDS",
    "AUDIENCES",
    "STATEMENT_STATUSES",
    "TIMELINE_KINDS",
    "Risk",
    "RiskVersion",
    "TeamMember",
    "Contact",
    "Playbook",
    "CrisisApprover",
    "Incident",
    "IncidentRisk",
    "TimelineEntry",
    "Statement",
    "Approval",
]

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
RISK_CATEGORIES = ("care", "patient_safety", "operations", "information_security", "public_accident", "reputation")
TEAM_ROLES = ("lead", "spokesperson", "communications", "legal", "medical", "it_security")
CONTACT_KINDS = ("lawyer", "pr_agency", "partner_hospital", "insurer", "regulator", "media", "it_support")
AUDIENCES = ("staff", "patients", "public", "media")
STATEMENT_STATUSES = ("draft", "approved", "published", "superseded")
TIMELINE_KINDS = ("declared", "paused", "drafted", "approved", "published", "closed", "note")


class Risk(Base, table=True):
    """One risk of the clinic's register, scored FMEA-style; ``rpn`` = severity × occurrence × detection."""

    __tablename__ = "risk"
    __table_args__ = (Index(None, "clinic_id", "status", "next_review_at"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    title: str = Field(max_length=300)
    category: str = Field(max_length=40)  # one of RISK_CATEGORIES
    severity: int
    occurrence: int
    detection: int
    rpn: int  # severity × occurrence × detection, kept so the register sorts in SQL
    owner: str | None = Field(default=None, max_length=200)
    mitigation: str | None = Field(default=None, max_length=4000)
    status: str = Field(default="active", max_length=20)  # "active" | "retired"
    review_every: str = Field(default="12 months", max_length=100)
    version: int = Field(default=1)  # the number of the latest RiskVersion
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    last_reviewed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    next_review_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    retired_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    retired_by: str | None = Field(default=None, max_length=200)
    retire_reason: str | None = Field(default=None, max_length=2000)


class RiskVersion(Base, table=True):
    """One version of a risk's scores: written when it is added and at every review."""

    __tablename__ = "risk_version"
    __table_args__ = (UniqueConstraint("risk_id", "version"),)

    id: int = Field(default=None, primary_key=True)
    risk_id: int = Field(sa_column=Column(Integer, ForeignKey("risk.id"), nullable=False))
    version: int
    kind: str = Field(max_length=20)  # "added" | "reviewed"
    severity: int
    occurrence: int
    detection: int
    rpn: int
    mitigation: str | None = Field(default=None, max_length=4000)
    note: str | None = Field(default=None, max_length=4000)
    by: str | None = Field(default=None, max_length=200)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class TeamMember(Base, table=True):
    """The member of staff holding one crisis-team role of a clinic (one per role)."""

    __tablename__ = "crisis_team_member"
    __table_args__ = (UniqueConstraint("clinic_id", "role"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    role: str = Field(max_length=40)  # one of TEAM_ROLES
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=20)  # E.164
    email: str | None = Field(default=None, max_length=320)


class Contact(Base, table=True):
    """An outside contact for a crisis (lawyer, PR agency, regulator…)."""

    __tablename__ = "crisis_contact"

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False, index=True))
    kind: str = Field(max_length=40)  # one of CONTACT_KINDS
    name: str = Field(max_length=200)
    phone: str | None = Field(default=None, max_length=20)  # E.164
    email: str | None = Field(default=None, max_length=320)
    note: str | None = Field(default=None, max_length=2000)


class Playbook(Base, table=True):
    """What to do for one crisis type, with a holding statement approved in advance."""

    __tablename__ = "crisis_playbook"
    __table_args__ = (UniqueConstraint("clinic_id", "crisis_type"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    crisis_type: str = Field(max_length=40)  # one of CRISIS_TYPES
    steps: list[str] = Field(sa_column=Column(JSON, nullable=False))
    holding_statement: Any = Field(sa_column=Column(JSON, nullable=False))  # str or {locale: str}


class CrisisApprover(Base, table=True):
    """A team role whose approval a clinic's statements need (no row: the default, ``("lead",)``)."""

    __tablename__ = "crisis_approver"
    __table_args__ = (UniqueConstraint("clinic_id", "role"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    role: str = Field(max_length=40)


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
    closed_by: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=4000)  # written when it is closed
    case_id: int | None = Field(default=None)  # the feedback case it started from
    alert_id: int | None = Field(default=None)  # the reputation alert it started from


class IncidentRisk(Base, table=True):
    """A risk of the register linked to an incident (due for review when the incident closes)."""

    __tablename__ = "incident_risk"
    __table_args__ = (UniqueConstraint("incident_id", "risk_id"),)

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incident.id"), nullable=False))
    risk_id: int = Field(sa_column=Column(Integer, ForeignKey("risk.id"), nullable=False, index=True))


class TimelineEntry(Base, table=True):
    """One append-only line of an incident's timeline (nothing edits or removes one)."""

    __tablename__ = "incident_timeline"
    __table_args__ = (Index(None, "incident_id", "at"),)

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incident.id"), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(max_length=20)  # one of TIMELINE_KINDS
    by: str = Field(max_length=200)
    text: str = Field(max_length=4000)


class Approval(Base, table=True):
    """One team role's approval of one statement version."""

    __tablename__ = "statement_approval"
    __table_args__ = (UniqueConstraint("statement_id", "role"),)

    id: int = Field(default=None, primary_key=True)
    statement_id: int = Field(sa_column=Column(Integer, ForeignKey("statement.id"), nullable=False))
    role: str = Field(max_length=40)
    by: str = Field(max_length=200)
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Statement(Base, table=True):
    """One version of a statement of an incident; versions of the same statement share ``series_id``."""

    __tablename__ = "statement"
    __table_args__ = (UniqueConstraint("series_id", "version"), Index(None, "incident_id", "audience"))

    id: int = Field(default=None, primary_key=True)
    incident_id: int = Field(sa_column=Column(Integer, ForeignKey("incident.id"), nullable=False))
    series_id: int | None = Field(default=None)  # the id of version 1: "the same statement"
    audience: str = Field(max_length=20)  # one of AUDIENCES
    version: int = Field(default=1)
    text: Any = Field(sa_column=Column(JSON, nullable=False))  # str or {locale: str}
    status: str = Field(default="draft", max_length=20)  # one of STATEMENT_STATUSES
    drafted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    drafted_by: str = Field(max_length=200)
    approved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    posts: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # channel → post id
    approvals: list[Approval] = Relationship(
        sa_relationship=relationship("Approval", lazy="selectin", order_by="Approval.id", viewonly=True)
    )
