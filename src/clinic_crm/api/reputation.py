"""``crm.reputation``: reviews and mentions, alerts and safe replies."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup

__all__ = ["ReputationAPI"]


class ReputationAPI(ServiceGroup):
    """Reviews and mentions, alerts and safe replies."""
