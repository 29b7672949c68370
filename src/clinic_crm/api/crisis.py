"""``crm.crisis``: the crisis team, outside contacts, playbooks, approvers and readiness."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup

__all__ = ["CrisisAPI"]


class CrisisAPI(ServiceGroup):
    """The crisis team, outside contacts, playbooks, approvers and readiness."""
