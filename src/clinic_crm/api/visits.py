"""``crm.visits``: book visits and move them through their status machine."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services import visits as svc

__all__ = ["VisitsAPI"]


class VisitsAPI(ServiceGroup):
    """Book visits and move them through booked → checked_in → completed | cancelled | no_show."""

    book = service(svc.book_visit)
    get = service(svc.get_visit)
    check_in = service(svc.check_in)
    start_care = service(svc.start_care)
    complete = service(svc.complete)
    cancel = service(svc.cancel)
    mark_no_show = service(svc.mark_no_show)
    history = service(svc.visit_history)
    list = service(svc.list_visits)
    reschedule = service(svc.reschedule)
    stats = service(svc.visit_stats)
