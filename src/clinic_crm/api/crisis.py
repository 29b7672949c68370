"""``crm.crisis``: the crisis team, outside contacts, playbooks, approvers and readiness."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services.crisis import plan as svc

__all__ = ["CrisisAPI"]


class CrisisAPI(ServiceGroup):
    """The crisis team, outside contacts, playbooks, approvers and readiness."""

    set_member = service(svc.set_member)
    team = service(svc.team)
    add_contact = service(svc.add_contact)
    contacts = service(svc.contacts)
    set_playbook = service(svc.set_playbook)
    playbook = service(svc.playbook)
    set_approvers = service(svc.set_approvers)
    approvers = service(svc.approvers)
    readiness = service(svc.readiness)
