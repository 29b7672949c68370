"""``crm.audit``: who read or changed which patient's data, hash-chained."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup

__all__ = ["AuditAPI"]


class AuditAPI(ServiceGroup):
    """Who read or changed which patient's data, hash-chained."""
