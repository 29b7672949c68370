"""``crm.surveys`` (being built: see the surveys issue)."""

from __future__ import annotations

from clinic_crm.api._unit import UnitOfWork


class SurveysAPI:
    """Create surveys, invite patients, take responses and report the metrics."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit
