"""``crm.visits``."""

from __future__ import annotations

from datetime import datetime

from clinic_crm.api._unit import UnitOfWork
from clinic_crm.models import Visit
from clinic_crm.services import visits as svc
from clinic_crm.services.visits import VisitStats


class VisitsAPI:
    """Book visits and move them through booked → checked_in → completed | cancelled | no_show."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit

    def book(self, patient_id: int, *, starts_at: datetime, kind: str, practitioner: str | None = None) -> Visit:
        """Book a visit (status ``"booked"``).  Raises ``NotFound``, ``NaiveDatetimeError``, ``ValidationError``."""
        return self._unit.run(svc.book_visit, patient_id, starts_at=starts_at, kind=kind, practitioner=practitioner)

    def get(self, visit_id: int) -> Visit:
        """Return the visit.  Raises ``NotFound``."""
        return self._unit.run(svc.get_visit, visit_id)

    def check_in(self, visit_id: int, *, at: datetime) -> Visit:
        """booked → checked_in.  Raises ``InvalidTransition``."""
        return self._unit.run(svc.check_in, visit_id, at=at)

    def start_care(self, visit_id: int, *, at: datetime) -> Visit:
        """Record when care began (for waiting time); the status stays ``checked_in``."""
        return self._unit.run(svc.start_care, visit_id, at=at)

    def complete(self, visit_id: int, *, at: datetime) -> Visit:
        """checked_in → completed.  Raises ``InvalidTransition``."""
        return self._unit.run(svc.complete, visit_id, at=at)

    def cancel(self, visit_id: int, *, at: datetime, reason: str | None = None) -> Visit:
        """booked → cancelled; cancels the visit's pending reminders.  Raises ``InvalidTransition``."""
        return self._unit.run(svc.cancel, visit_id, at=at, reason=reason)

    def mark_no_show(self, visit_id: int, *, at: datetime) -> Visit:
        """booked → no_show; cancels the visit's pending reminders.  Raises ``InvalidTransition``."""
        return self._unit.run(svc.mark_no_show, visit_id, at=at)

    def history(self, patient_id: int) -> list[Visit]:
        """The patient's visits, newest first.  Raises ``NotFound``."""
        return self._unit.run(svc.visit_history, patient_id)

    def stats(self, clinic_id: int, *, since: datetime, until: datetime) -> VisitStats:
        """Visit counts, no-show rate and median waiting time for visits starting in ``[since, until)``."""
        return self._unit.run(svc.visit_stats, clinic_id, since=since, until=until)
