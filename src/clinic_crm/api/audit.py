"""``crm.audit``: who read or changed which patient's data, hash-chained."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services import audit as svc

__all__ = ["AuditAPI"]


class AuditAPI(ServiceGroup):
    """Who read or changed which patient's data, hash-chained."""

    for_patient = service(svc.audit_for_patient)
    verify = service(svc.verify_audit)
