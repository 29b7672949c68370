"""``crm.events``: health talks, patient groups and other community events."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup

__all__ = ["EventsAPI"]


class EventsAPI(ServiceGroup):
    """Health talks, patient groups and other community events."""
