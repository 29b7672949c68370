"""``crm.reminders`` (being built: see the reminders issue)."""

from __future__ import annotations

from clinic_crm.api._unit import UnitOfWork


class RemindersAPI:
    """Schedule, plan and dispatch care and marketing messages."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit
