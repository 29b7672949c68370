"""``crm.risks``: the clinic's risk register (FMEA)."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup

__all__ = ["RisksAPI"]


class RisksAPI(ServiceGroup):
    """The clinic's risk register (FMEA)."""
