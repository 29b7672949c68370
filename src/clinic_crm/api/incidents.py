"""``crm.incidents``: incidents, their timeline and approved, versioned statements."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup

__all__ = ["IncidentsAPI"]


class IncidentsAPI(ServiceGroup):
    """Incidents, their timeline and approved, versioned statements."""
