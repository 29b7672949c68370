"""Community events (health talks, patient groups, free clinics, screenings) and their registrations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["EVENT_KINDS", "EVENT_STATUSES", "REGISTRATION_STATUSES", "SEAT_HOLDING", "Event", "Registration"]

EVENT_KINDS = ("health_talk", "patient_group", "free_clinic", "screening", "other")
EVENT_STATUSES = ("scheduled", "cancelled", "closed")
REGISTRATION_STATUSES = ("registered", "waitlisted", "cancelled", "attended", "no_show")
#: The registration statuses that hold seats.
SEAT_HOLDING = ("registered", "attended", "no_show")


class Event(Base, table=True):
    """A community event with an optional capacity; its row is the lock that serialises sign-ups."""

    __tablename__ = "event"
    __table_args__ = (Index(None, "clinic_id", "starts_at"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    title: Any = Field(sa_column=Column(JSON, nullable=False))  # a str or {locale: str}
    kind: str = Field(max_length=40)  # one of EVENT_KINDS
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    ends_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    location: str = Field(max_length=300)
    capacity: int | None = Field(default=None)  # seats; None: unlimited
    seats_taken: int = Field(default=0)  # seats held by registered, attended and no-show registrations
    status: str = Field(default="scheduled", max_length=20)  # one of EVENT_STATUSES
    uid: str = Field(max_length=100, unique=True)  # the iCalendar UID, stable for the event
    sequence: int = Field(default=0)  # iCalendar SEQUENCE: raised by each change of time or place
    reschedules: int = Field(default=0)  # changes of the start time (keys the planned event reminders)
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # the iCalendar DTSTAMP
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cancel_reason: str | None = Field(default=None, max_length=500)
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))


class Registration(Base, table=True):
    """One patient's sign-up for an event: its seats and where it stands; ids give the order they came."""

    __tablename__ = "event_registration"
    __table_args__ = (Index(None, "event_id", "status"), Index(None, "patient_id"))

    id: int = Field(default=None, primary_key=True)
    event_id: int = Field(sa_column=Column(Integer, ForeignKey("event.id"), nullable=False))
    patient_id: int = Field(sa_column=Column(Integer, ForeignKey("patient.id"), nullable=False))
    seats: int = Field(default=1)
    status: str = Field(max_length=20)  # one of REGISTRATION_STATUSES
    registered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    promoted_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))  # off the waitlist
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    checked_in_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
