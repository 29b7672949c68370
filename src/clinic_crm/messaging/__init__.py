"""Outbound messages, the sender protocol, real senders and message templates."""

from clinic_crm.messaging.message import OutboundMessage, Sender

__all__ = ["OutboundMessage", "Sender"]
