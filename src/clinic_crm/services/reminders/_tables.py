"""The Core ``Table`` objects of the models the reminder services query (typed for mypy)."""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from clinic_crm.models import (
    CarePlan,
    Clinic,
    ClinicPause,
    ConsentEvent,
    Greeting,
    InboundReply,
    MessageTemplate,
    Patient,
    Reminder,
    Visit,
)

__all__ = [
    "t_reminder",
    "t_patient",
    "t_visit",
    "t_clinic",
    "t_clinic_pause",
    "t_care_plan",
    "t_greeting",
    "t_inbound_reply",
    "t_message_template",
    "t_consent_event",
]

t_reminder = cast(Table, Reminder.__table__)  # type: ignore[attr-defined]
t_patient = cast(Table, Patient.__table__)  # type: ignore[attr-defined]
t_visit = cast(Table, Visit.__table__)  # type: ignore[attr-defined]
t_clinic = cast(Table, Clinic.__table__)  # type: ignore[attr-defined]
t_clinic_pause = cast(Table, ClinicPause.__table__)  # type: ignore[attr-defined]
t_care_plan = cast(Table, CarePlan.__table__)  # type: ignore[attr-defined]
t_greeting = cast(Table, Greeting.__table__)  # type: ignore[attr-defined]
t_inbound_reply = cast(Table, InboundReply.__table__)  # type: ignore[attr-defined]
t_message_template = cast(Table, MessageTemplate.__table__)  # type: ignore[attr-defined]
t_consent_event = cast(Table, ConsentEvent.__table__)  # type: ignore[attr-defined]
