"""Outbound messages and public posts, the sender and publisher protocols, real senders and message templates."""

from clinic_crm.messaging.message import OutboundMessage, Sender
from clinic_crm.messaging.post import PublicPost, Publisher

__all__ = ["OutboundMessage", "Sender", "PublicPost", "Publisher"]
