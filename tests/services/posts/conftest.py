"""Fixtures of the post tests: the real local HTTP server of the sender tests, for the webhook publisher."""

from tests.messaging.conftest import gateway

__all__ = ["gateway"]
