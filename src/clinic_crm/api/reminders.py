"""``crm.reminders``: schedule, plan, dispatch, pause, and handle replies."""

from __future__ import annotations

from datetime import datetime, timedelta

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.db import database_errors
from clinic_crm.errors import ClinicCRMError
from clinic_crm.messaging.message import Sender
from clinic_crm.services.reminders import listing, pauses, planning, replies, scheduling, templates
from clinic_crm.services.reminders.dispatch import DEFAULT_BATCH_SIZE, DispatchReport, RetryPolicy, dispatch_due

__all__ = ["RemindersAPI", "DispatchReport", "RetryPolicy"]


class RemindersAPI(ServiceGroup):
    """Schedule, plan and dispatch care and marketing messages."""

    schedule = service(scheduling.schedule_reminder)
    add_recall = service(scheduling.add_recall)
    plan = service(planning.plan_reminders)
    get = service(scheduling.get_reminder)
    list = service(listing.list_reminders)
    cancel = service(listing.cancel_reminder)
    pause = service(pauses.pause_clinic)
    resume = service(pauses.resume_clinic)
    pauses = service(pauses.pause_history)
    handle_reply = service(replies.handle_reply)
    replies = service(replies.list_replies)
    set_template = service(templates.set_template)
    add_greeting = service(templates.add_greeting)

    def dispatch(
        self,
        sender: Sender,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        lease: timedelta = timedelta(minutes=10),
        policy: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> DispatchReport:
        """Send the due reminders through ``sender``, committing each outcome as soon as the sender returns.

        Written here rather than bound with ``service``: it owns its commits (claim, send, record), so it runs on
        the session factory instead of inside one unit of work.

        Args:
            sender: a :class:`~clinic_crm.Sender`: ``send(OutboundMessage) -> str`` (the provider's id).
            now: the instant to dispatch at (default: the clock).
            limit: the most reminders this call claims.
            lease: after this long (measured against ``now``) another dispatcher may take a claimed reminder over.
            policy: retries and backoff (default: 5 attempts, 5 min doubling, at most 6 h).
            batch_size: reminders claimed per claim transaction.

        Raises:
            ClinicCRMError: called inside ``crm.transaction()`` or ``crm.bind()`` (dispatch commits by itself).
            ValidationError: malformed arguments.
            DatabaseUnavailable: the database went away; outcomes committed before stay committed.
        """
        if self._unit.bound:
            raise ClinicCRMError(
                "dispatch commits each outcome itself, so it cannot run inside crm.transaction() or crm.bind(); "
                "call crm.reminders.dispatch(...) on the facade"
            )
        with database_errors():
            return dispatch_due(
                self._unit.factory,
                sender,
                now=now,
                limit=limit,
                lease=lease,
                policy=policy,
                batch_size=batch_size,
                guard=self._unit.guard,
            )
