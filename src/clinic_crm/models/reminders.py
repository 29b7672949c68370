"""Care plans, reminders and the clinic-level switches that govern sending them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint, text
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["REMINDER_STATUSES", "CarePlan", "Reminder", "ClinicPause", "InboundReply", "MessageTemplate", "Greeting"]

REMINDER_STATUSES = ("pending", "sending", "sent", "failed", "suppressed", "cancelled")


class CarePlan(Base, table=True):
    """A recurring recall: remind the patient ``every`` after their last completed visit of a kind."""

    __tablename__ = "care_plan"

    id: int = Field(default=None, primary_key=True)
    patient_id: int = Field(sa_column=Column(Integer, ForeignKey("patient.id"), nullable=False, index=True))
    kind: str = Field(max_length=100)  # reminder kind, e.g. "dental_recall"
    every: str = Field(max_length=500)  # "6 months" or an RFC 5545 RRULE
    after_visit_kind: str = Field(max_length=100)  # the visit kind that restarts the clock
    channel: str | None = Field(default=None, max_length=10)  # None: the patient's best channel
    active: bool = Field(default=True)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Reminder(Base, table=True):
    """One message to one patient, from scheduling to its final outcome."""

    __tablename__ = "reminder"
    __table_args__ = (
        Index(None, "status", "ready_at"),
        Index(None, "patient_id", "status"),
        Index(None, "visit_id"),
        Index(None, "care_plan_id"),
        Index(None, "clinic_id", "purpose", "status"),
        # what dispatchers claim, in claim order; partial, so it holds only the claimable rows (PostgreSQL's claim)
        Index(
            "ix_reminder_claimable",
            "ready_at",
            "id",
            postgresql_where=text("status IN ('pending', 'sending')"),
            sqlite_where=text("status IN ('pending', 'sending')"),
        ),
    )

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    patient_id: int = Field(sa_column=Column(Integer, ForeignKey("patient.id"), nullable=False))
    visit_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("visit.id")))
    care_plan_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("care_plan.id")))
    kind: str = Field(max_length=100)  # "appointment", "recall", "birthday", "survey", …
    purpose: str = Field(max_length=20)  # "care" | "marketing"
    channel: str | None = Field(default=None, max_length=10)  # None: chosen at send time
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # the instant the reminder is next eligible to be claimed: due_at, next_attempt_at, or the lease expiry
    ready_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default="pending", max_length=20)  # one of REMINDER_STATUSES
    suppressed_reason: str | None = Field(default=None, max_length=40)  # "no_consent", "no_address", "not_mobile", …
    attempts: int = Field(default=0)  # delivery attempts so far
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    sent_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # past this instant the message is pointless (the visit started, the holiday is over): suppressed "expired"
    expires_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    provider_id: str | None = Field(default=None, max_length=200)  # what the sender returned
    idempotency_key: str = Field(max_length=64, unique=True)  # stays the same across retries and take-overs
    plan_key: str | None = Field(default=None, max_length=200, unique=True)  # makes plan() idempotent
    claim_token: str | None = Field(default=None, max_length=64)  # fences a dispatcher whose lease was taken over
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    last_error: str | None = Field(default=None, max_length=500)  # never contains patient data
    payload: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # e.g. survey link
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def __repr__(self) -> str:  # the payload may hold a survey link's secret token: keep it out of logs
        return (
            f"Reminder(id={self.id!r}, patient_id={self.patient_id!r}, kind={self.kind!r}, "
            f"purpose={self.purpose!r}, status={self.status!r})"
        )

    __str__ = __repr__


class ClinicPause(Base, table=True):
    """A pause of a clinic's messages for one purpose (e.g. marketing during an incident); history kept.

    A purpose is paused while any row of it is active: at most one manual row, plus one per open incident.
    """

    __tablename__ = "clinic_pause"
    __table_args__ = (Index(None, "clinic_id", "purpose", "resumed_at"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    purpose: str = Field(max_length=20)
    reason: str = Field(max_length=500)
    paused_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    resumed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    # the incident that made this pause (lifted when it closes); None: a manual ``crm.reminders.pause``
    incident_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("incident.id"), index=True))


class InboundReply(Base, table=True):
    """A reply received from a patient's phone, kept for staff (opt-outs and anything else)."""

    __tablename__ = "inbound_reply"

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False, index=True))
    phone: str = Field(max_length=20)  # E.164 when it parsed, else as received
    text: str = Field(max_length=2000)
    opt_out: bool  # True when the text was an opt-out keyword
    received_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class MessageTemplate(Base, table=True):
    """A clinic's override of the built-in text for one reminder kind, channel and locale."""

    __tablename__ = "message_template"
    __table_args__ = (UniqueConstraint("clinic_id", "kind", "channel", "locale"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    kind: str = Field(max_length=100)
    channel: str = Field(max_length=10)
    locale: str = Field(max_length=32)
    subject: str | None = Field(default=None, max_length=300)  # e-mail only
    body: str = Field(max_length=4000)  # str.format-style fields: {name}, {clinic}, {date}, {time}, …


class Greeting(Base, table=True):
    """A fixed-date greeting a clinic sends every year (a holiday), with marketing purpose."""

    __tablename__ = "greeting"

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False, index=True))
    kind: str = Field(max_length=100)  # reminder kind, e.g. "lunar_new_year"
    month: int
    day: int
    local_time_minutes: int = Field(default=600)  # minutes after local midnight (default 10:00)
    active: bool = Field(default=True)
    starts_on: date | None = Field(default=None)
