"""``crm.risks``: the clinic's risk register (FMEA)."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services.crisis import risks as svc

__all__ = ["RisksAPI"]


class RisksAPI(ServiceGroup):
    """The clinic's risk register (FMEA)."""

    add = service(svc.add_risk)
    review = service(svc.review_risk)
    history = service(svc.risk_history)
    list = service(svc.list_risks)
    get = service(svc.get_risk)
    retire = service(svc.retire_risk)
