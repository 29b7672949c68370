"""``OutboundMessage`` and the ``Sender`` protocol every delivery channel implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Attachment", "OutboundMessage", "Sender", "CALENDAR_CONTENT_TYPE", "calendar_attachment"]

#: The content type of an iCalendar attachment that publishes an event (RFC 6047).
CALENDAR_CONTENT_TYPE = "text/calendar; method=PUBLISH"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file sent with an e-mail message (SMS carries none).

    Attributes:
        filename: the file name the recipient sees (``"event.ics"``).
        content_type: its MIME type, parameters included (``"text/calendar; method=PUBLISH"``).
        data: its bytes.
    """

    filename: str
    content_type: str
    data: bytes

    def __repr__(self) -> str:  # keep the content out of logs and tracebacks
        return f"Attachment(filename={self.filename!r}, content_type={self.content_type!r}, size={len(self.data)})"


def calendar_attachment(ics: str, filename: str = "event.ics") -> Attachment:
    """An ``.ics`` attachment (UTF-8, ``text/calendar; method=PUBLISH``) of iCalendar text."""
    return Attachment(filename=filename, content_type=CALENDAR_CONTENT_TYPE, data=ics.encode("utf-8"))


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
        attachments: files sent with an e-mail (an event's ``.ics``); empty for SMS and most messages.
    """

    idempotency_key: str
    reminder_id: int
    patient_id: int
    channel: str
    to: str
    subject: str | None
    body: str
    locale: str
    attachments: tuple[Attachment, ...] = ()

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
