"""Visits and their status machine."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, Integer
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["VISIT_STATUSES", "VISIT_TRANSITIONS", "Visit"]

VISIT_STATUSES = ("booked", "checked_in", "completed", "cancelled", "no_show")

#: Allowed moves of the status machine: from → the statuses it may go to.
VISIT_TRANSITIONS: dict[str, frozenset[str]] = {
    "booked": frozenset({"checked_in", "cancelled", "no_show"}),
    "checked_in": frozenset({"completed"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
    "no_show": frozenset(),
}


class Visit(Base, table=True):
    """One appointment of a patient: booked, then checked in and completed, or cancelled, or missed."""

    __tablename__ = "visit"
    __table_args__ = (
        Index(None, "patient_id", "starts_at"),
        Index(None, "clinic_id", "status", "starts_at"),
    )

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))  # denormalised
    patient_id: int = Field(sa_column=Column(Integer, ForeignKey("patient.id"), nullable=False))
    starts_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # booked start
    kind: str = Field(max_length=100)  # e.g. "dental_checkup", "vaccination"
    practitioner: str | None = Field(default=None, max_length=200)
    status: str = Field(default="booked", max_length=20)  # one of VISIT_STATUSES
    checked_in_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    care_started_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))  # for waiting time
    completed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cancel_reason: str | None = Field(default=None, max_length=500)
    no_show_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
