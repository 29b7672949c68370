"""The sender tests' local servers (an aiosmtpd SMTP server, an HTTP SMS gateway), for the walk-through."""

from tests.messaging.conftest import gateway, smtp_factory

__all__ = ["gateway", "smtp_factory"]
