"""``crm.clinics``."""

from __future__ import annotations

from datetime import time
from typing import Any

from clinic_crm.api._unit import UnitOfWork
from clinic_crm.models import Clinic
from clinic_crm.services import clinics as svc


class ClinicsAPI:
    """Create and configure clinics."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit

    def create(
        self,
        name: str,
        *,
        timezone: str,
        locale: str,
        region: str,
        quiet_hours: tuple[time, time] = svc.DEFAULT_QUIET_HOURS,
    ) -> Clinic:
        """Create a clinic.

        Args:
            name: shown in messages.
            timezone: IANA time zone name (``"Asia/Taipei"``).
            locale: Babel locale id (``"zh_TW"``).
            region: ISO country code used to parse local phone numbers (``"TW"``).
            quiet_hours: ``(start, end)`` local times; nothing is sent in ``[start, end)`` (wraps midnight).

        Raises:
            ValidationError: a malformed argument (``.field`` says which).
        """
        return self._unit.run(
            svc.create_clinic, name, timezone=timezone, locale=locale, region=region, quiet_hours=quiet_hours
        )

    def get(self, clinic_id: int) -> Clinic:
        """Return the clinic.  Raises ``NotFound``."""
        return self._unit.run(svc.get_clinic, clinic_id)

    def list(self) -> list[Clinic]:
        """Every clinic, ordered by id."""
        return self._unit.run(svc.list_clinics)

    def update(self, clinic_id: int, **fields: Any) -> Clinic:
        """Change settings of a clinic.

        Fields: ``birthday_greetings`` (bool, opt-in), ``name``, ``timezone``, ``locale``, ``quiet_hours``,
        ``appointment_offsets`` (minutes before a visit), ``survey_url_template``, ``survey_delay_minutes``.

        Raises:
            NotFound, ValidationError
        """
        return self._unit.run(svc.update_clinic, clinic_id, **fields)
