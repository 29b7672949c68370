"""``crm.reminders``: schedule, plan, dispatch, pause, and handle replies."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

from clinic_crm.api._unit import UnitOfWork
from clinic_crm.db import database_errors
from clinic_crm.errors import ClinicCRMError
from clinic_crm.models import CarePlan, ClinicPause, Greeting, InboundReply, MessageTemplate, Reminder
from clinic_crm.services.reminders import control, planning, scheduling
from clinic_crm.services.reminders.dispatch import DEFAULT_BATCH_SIZE, DispatchReport, RetryPolicy, dispatch_due

__all__ = ["RemindersAPI", "DispatchReport", "RetryPolicy"]


class RemindersAPI:
    """Schedule, plan and dispatch care and marketing messages."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit

    def schedule(
        self,
        patient_id: int,
        *,
        kind: str,
        purpose: str,
        due_at: datetime,
        channel: str | None = None,
        visit_id: int | None = None,
        payload: dict[str, Any] | None = None,
        expires_at: datetime | None = None,
    ) -> Reminder:
        """Schedule one message (status ``"pending"``).

        Args:
            kind: picks the template (``"appointment"``, ``"recall"``, ``"survey"``, ``"birthday"``, or your own).
            purpose: ``"care"`` or ``"marketing"``.
            due_at: aware datetime; it is sent at the first dispatch at or after it.
            channel: ``"sms"``, ``"email"`` or ``None`` (SMS when the patient has a phone, else e-mail).
            visit_id: the visit it is about (its date and time appear in the message).
            payload: template data, e.g. ``{"url": ...}`` for a survey.
            expires_at: after this instant it is suppressed ``"expired"`` instead of sent.

        Raises:
            NotFound, ValidationError, NaiveDatetimeError
        """
        return self._unit.run(
            scheduling.schedule_reminder,
            patient_id,
            kind=kind,
            purpose=purpose,
            due_at=due_at,
            channel=channel,
            visit_id=visit_id,
            payload=payload,
            expires_at=expires_at,
        )

    def add_recall(
        self, patient_id: int, *, kind: str, every: str, after_visit_kind: str, channel: str | None = None
    ) -> CarePlan:
        """Remind the patient ``every`` (``"6 months"`` or an RRULE) after their last completed visit of a kind.

        Raises:
            NotFound, ValidationError (``.field == "every"`` for an interval that does not parse)
        """
        return self._unit.run(
            scheduling.add_recall,
            patient_id,
            kind=kind,
            every=every,
            after_visit_kind=after_visit_kind,
            channel=channel,
        )

    def plan(self, *, now: datetime, horizon: timedelta) -> int:
        """Create the reminders due within ``horizon`` of ``now``; idempotent.  Returns how many are new."""
        return self._unit.run(planning.plan_reminders, now=now, horizon=horizon)

    def dispatch(
        self,
        sender: Any,
        *,
        now: datetime | None = None,
        limit: int | None = None,
        lease: timedelta = timedelta(minutes=10),
        policy: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> DispatchReport:
        """Send the due reminders through ``sender``, committing each outcome as soon as the sender returns.

        Args:
            sender: an object with ``send(OutboundMessage) -> str``.
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

    def get(self, reminder_id: int) -> Reminder:
        """Return the reminder.  Raises ``NotFound``."""
        return self._unit.run(scheduling.get_reminder, reminder_id)

    def list(
        self,
        *,
        clinic_id: int | None = None,
        patient_id: int | None = None,
        status: str | None = None,
        kind: str | None = None,
        limit: int = 1000,
    ) -> builtins.list[Reminder]:
        """Reminders matching every filter given, oldest due first."""
        return self._unit.run(
            control.list_reminders, clinic_id=clinic_id, patient_id=patient_id, status=status, kind=kind, limit=limit
        )

    def cancel(self, reminder_id: int) -> Reminder:
        """Cancel a pending reminder.  Raises ``NotFound``, ``InvalidTransition`` (not pending)."""
        return self._unit.run(control.cancel_reminder, reminder_id)

    def pause(
        self, clinic_id: int, *, purposes: Iterable[str] = ("marketing",), reason: str, at: datetime | None = None
    ) -> builtins.list[ClinicPause]:
        """Hold the clinic's messages of ``purposes`` (held, not lost) until :meth:`resume`; returns the active pauses.

        This is the manual pause (its rows have ``incident_id is None``); an incident's pauses are its own and
        only ``crm.incidents.close`` lifts them.

        Raises:
            NotFound, ValidationError
        """
        return self._unit.run(control.pause_clinic, clinic_id, purposes=purposes, reason=reason, at=at)

    def resume(self, clinic_id: int, *, purposes: Iterable[str] | None = None, at: datetime | None = None) -> int:
        """End the clinic's manual pauses (all purposes by default); returns how many held reminders are due again.

        A purpose an open incident still holds stays paused until the incident closes.
        """
        return self._unit.run(control.resume_clinic, clinic_id, purposes=purposes, at=at)

    def pauses(self, clinic_id: int) -> builtins.list[ClinicPause]:
        """The clinic's pause history, newest first."""
        return self._unit.run(control.pause_history, clinic_id)

    def handle_reply(self, clinic_id: int, *, phone: str, text: str, at: datetime) -> bool:
        """Record an SMS reply; an opt-out keyword withdraws SMS consent of every patient of the clinic on that number.

        Returns:
            ``True`` for an opt-out keyword (``STOP``, ``ＳＴＯＰ``, ``退訂``…); ``False`` for anything else
            (``CANCEL`` included), which is kept for staff (:meth:`replies`).

        Raises:
            NotFound, InvalidPhoneNumber, ValidationError, NaiveDatetimeError
        """
        return self._unit.run(control.handle_reply, clinic_id, phone=phone, text=text, at=at)

    def replies(self, clinic_id: int, *, opt_out: bool | None = None) -> builtins.list[InboundReply]:
        """The clinic's inbound replies, newest first (``opt_out=False``: the ones for staff)."""
        return self._unit.run(control.list_replies, clinic_id, opt_out=opt_out)

    def set_template(
        self, clinic_id: int, *, kind: str, channel: str, locale: str, body: str, subject: str | None = None
    ) -> MessageTemplate:
        """Use the clinic's own text for a kind, channel and locale (fields: ``{name}``, ``{clinic}``, ``{date}``…).

        Raises:
            NotFound, ValidationError
        """
        return self._unit.run(
            control.set_template, clinic_id, kind=kind, channel=channel, locale=locale, body=body, subject=subject
        )

    def add_greeting(
        self,
        clinic_id: int,
        *,
        kind: str,
        month: int,
        day: int,
        local_time: time = time(10),
        starts_on: date | None = None,
    ) -> Greeting:
        """Add a yearly fixed-date greeting (marketing) to every patient of the clinic, at ``local_time`` in their zone.

        Raises:
            NotFound, ValidationError
        """
        return self._unit.run(
            control.add_greeting,
            clinic_id,
            kind=kind,
            month=month,
            day=day,
            local_time=local_time,
            starts_on=starts_on,
        )
