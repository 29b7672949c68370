"""``OutboundMessage`` and the ``Sender`` protocol every delivery channel implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """One rendered message, ready for a provider.

    Attributes:
        idempotency_key: the same for every attempt at this reminder (retries and take-overs);
            pass it to the provider so it can drop duplicates.
        reminder_id: the reminder this message delivers.
        patient_id: its patient.
        channel: ``"sms"`` or ``"email"``.
        to: E.164 phone number or e-mail address.
        subject: e-mail subject (``None`` for SMS).
        body: the rendered text.
        locale: the Babel locale it was rendered in.
    """

    idempotency_key: str
    reminder_id: int
    patient_id: int
    channel: str
    to: str
    subject: str | None
    body: str
    locale: str

    def __repr__(self) -> str:  # keep the address and text out of logs and tracebacks
        return (
            f"OutboundMessage(reminder_id={self.reminder_id!r}, patient_id={self.patient_id!r}, "
            f"channel={self.channel!r}, idempotency_key={self.idempotency_key!r})"
        )


@runtime_checkable
class Sender(Protocol):
    """Hands a message to a provider.

    ``send`` returns the provider's id for the message, or raises
    ``clinic_crm.DeliveryError(message, retryable=…)``.
    """

    def send(self, message: OutboundMessage) -> str:
        """Deliver ``message``; return the provider id."""
        ...
