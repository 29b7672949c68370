"""``crm.events``: health talks, patient groups and other community events."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services.events import events as svc
from clinic_crm.services.events import registrations as reg
from clinic_crm.services.events import stats

__all__ = ["EventsAPI"]


class EventsAPI(ServiceGroup):
    """Health talks, patient groups and other community events."""

    create = service(svc.create_event)
    get = service(svc.get_event)
    list = service(svc.list_events)
    update = service(svc.update_event)
    cancel = service(svc.cancel_event)
    close = service(svc.close_event)
    invite = service(svc.invite)
    ics = service(svc.event_calendar)
    register = service(reg.register)
    registrations = service(reg.list_registrations)
    cancel_registration = service(reg.cancel_registration)
    check_in = service(reg.check_in)
    stats = service(stats.event_stats)
