"""Clinics: the tenant every other row belongs to, and its settings."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import JSON, Column, Date, ForeignKey, Index, Integer, Time
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["Clinic", "ClinicDay"]


class Clinic(Base, table=True):
    """A clinic: its time zone, locale, phone region, quiet hours and messaging settings."""

    __tablename__ = "clinic"

    id: int = Field(default=None, primary_key=True)
    name: str = Field(max_length=200)  # shown in messages
    timezone: str = Field(max_length=64)  # IANA name, e.g. "Asia/Taipei"
    locale: str = Field(max_length=32)  # Babel locale id, e.g. "zh_TW"
    region: str = Field(max_length=2)  # ISO country code used to parse local phone numbers
    quiet_start: time = Field(sa_column=Column(Time(), nullable=False))  # no message at or after this local time…
    quiet_end: time = Field(sa_column=Column(Time(), nullable=False))  # …until this local time
    # minutes before a booked visit at which appointment reminders fall due (default: 24 h)
    appointment_offsets: list[int] = Field(default_factory=lambda: [1440], sa_column=Column(JSON, nullable=False))
    birthday_greetings: bool = Field(default=False)  # send birthday greetings (marketing); opt-in per clinic
    survey_url_template: str | None = Field(default=None, max_length=500)  # e.g. "https://c.example/s/{token}"
    survey_delay_minutes: int = Field(default=180)  # survey invitation sent this long after the visit
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def quiet_hours(self) -> tuple[time, time]:
        """The quiet hours as ``(start, end)`` local times; the interval is ``[start, end)``."""
        return (self.quiet_start, self.quiet_end)


class ClinicDay(Base, table=True):
    """A day the clinic recorded itself: a closure (``working=False``) or an extra working day (``True``).

    Rows are only added; when one day is recorded twice the later record (higher id) wins.
    """

    __tablename__ = "clinic_day"
    __table_args__ = (Index(None, "clinic_id", "day"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    day: date = Field(sa_column=Column(Date(), nullable=False))
    working: bool
    reason: str = Field(max_length=500)
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
