"""``crm.incidents``: incidents, their timeline and approved, versioned statements."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services.crisis import incidents, statements

__all__ = ["IncidentsAPI"]


class IncidentsAPI(ServiceGroup):
    """Incidents, their timeline and approved, versioned statements."""

    declare = service(incidents.declare_incident)
    log = service(incidents.log_note)
    timeline = service(incidents.timeline)
    overdue = service(incidents.overdue_incidents)
    close = service(incidents.close_incident)
    list = service(incidents.list_incidents)
    get = service(incidents.get_incident)
    draft = service(statements.draft_statement)
    revise = service(statements.revise_statement)
    approve = service(statements.approve_statement)
    publish = service(statements.publish_statement)
    notify_patients = service(statements.notify_patients)
    statement = service(statements.get_statement)
    statements = service(statements.list_statements)
