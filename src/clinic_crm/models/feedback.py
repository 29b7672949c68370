"""Feedback and complaints: cases, their history, and each clinic's deadline policies."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["Case", "CaseEvent", "FeedbackPolicy"]


class Case(Base, table=True):
    """A complaint, question, suggestion or compliment, with the deadlines of the policy in force when recorded.

    ``text`` and ``resolution`` are patient data: never logged, never in an error message or in CLI output.
    """

    __tablename__ = "feedback_case"
    __table_args__ = (Index(None, "clinic_id", "received_at"), Index(None, "clinic_id", "status"))

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    patient_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("patient.id"), index=True))
    visit_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("visit.id")))
    kind: str = Field(max_length=20)  # rules.KINDS
    channel: str = Field(max_length=20)  # rules.CHANNELS
    priority: str = Field(default="normal", max_length=20)  # rules.PRIORITIES
    text: str = Field(max_length=4000)
    status: str = Field(default="open", max_length=20)  # rules.STATUSES
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    assigned_to: str | None = Field(default=None, max_length=200)
    acknowledge_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resolve_due_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    acknowledged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resolved_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    resolution: str | None = Field(default=None, max_length=4000)
    # the policy in force when the case was recorded (a reopening counts its new resolve deadline with it)
    acknowledge_within: str | None = Field(default=None, max_length=40)
    resolve_within: str | None = Field(default=None, max_length=40)
    # the resolve due time an earlier, late resolution missed: the case stays breached after a reopening
    missed_before_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))

    def __repr__(self) -> str:  # no text, no resolution: they are patient data
        return f"Case(id={self.id!r}, clinic_id={self.clinic_id!r}, kind={self.kind!r}, status={self.status!r})"


class CaseEvent(Base, table=True):
    """One change of a case: when, what, and which member of staff (``by``)."""

    __tablename__ = "feedback_case_event"
    __table_args__ = (Index(None, "case_id", "at"),)

    id: int = Field(default=None, primary_key=True)
    case_id: int = Field(sa_column=Column(Integer, ForeignKey("feedback_case.id"), nullable=False))
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    kind: str = Field(max_length=20)  # rules.EVENT_KINDS
    by: str = Field(max_length=200)
    note: str | None = Field(default=None, max_length=4000)

    def __repr__(self) -> str:
        return f"CaseEvent(id={self.id!r}, case_id={self.case_id!r}, kind={self.kind!r}, by={self.by!r})"


class FeedbackPolicy(Base, table=True):
    """A clinic's deadline targets for one (kind, priority); stored as text (``"3 working days"``,
    ``"14400 seconds"``) or ``None`` for no target.  Without a row the contract's defaults apply."""

    __tablename__ = "feedback_policy"
    __table_args__ = (UniqueConstraint("clinic_id", "kind", "priority"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    kind: str = Field(max_length=20)
    priority: str = Field(max_length=20)
    acknowledge_within: str | None = Field(default=None, max_length=40)
    resolve_within: str | None = Field(default=None, max_length=40)
    set_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    set_by: str = Field(max_length=200)
