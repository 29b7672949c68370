"""``crm.feedback``: complaints, questions, suggestions and compliments, answered within deadlines."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services.feedback import cases, policies, sla

__all__ = ["FeedbackAPI"]


class FeedbackAPI(ServiceGroup):
    """Complaints, questions, suggestions and compliments, answered within deadlines."""

    record = service(cases.record_case)
    acknowledge = service(cases.acknowledge_case)
    resolve = service(cases.resolve_case)
    reopen = service(cases.reopen_case)
    assign = service(cases.assign_case)
    get = service(cases.get_case)
    history = service(cases.case_history)
    list = service(cases.list_cases)
    set_policy = service(policies.set_policy)
    policy = service(policies.get_policy)
    sla = service(sla.sla)
