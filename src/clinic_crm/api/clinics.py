"""``crm.clinics``: create and configure clinics, and keep their calendars of working days."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services import clinics as svc

__all__ = ["ClinicsAPI"]


class ClinicsAPI(ServiceGroup):
    """Create and configure clinics; their working days."""

    create = service(svc.create_clinic)
    get = service(svc.get_clinic)
    list = service(svc.list_clinics)
    update = service(svc.update_clinic)
    add_closure = service(svc.add_closure)
    add_working_day = service(svc.add_working_day)
    is_working_day = service(svc.is_working_day)
    add_working_days = service(svc.add_working_days)
