"""``PublicPost`` and the ``Publisher`` protocol every public channel (website, social page, webhook) implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["PublicPost", "Publisher"]


@dataclass(frozen=True, slots=True)
class PublicPost:
    """One text for one public channel, ready for a publisher.

    Attributes:
        idempotency_key: stable per statement version and channel, or per scheduled post: the same for every
            attempt, so the channel can drop duplicates.
        clinic_id: the clinic that speaks.
        channel: the clinic's name for the channel (``"website"``, ``"facebook"``…).
        text: the text in ``locale``.
        locale: the clinic's locale, or the text's only locale.
        kind: ``"statement"`` for a crisis statement, else the scheduled post's kind (``"health_education"``…).
        incident_id: the incident of a statement (``None`` for a scheduled post).
        statement_id: the statement version (``None`` for a scheduled post).
        post_id: the scheduled post (``None`` for a statement).
    """

    idempotency_key: str
    clinic_id: int
    channel: str
    text: str
    locale: str
    kind: str
    incident_id: int | None = None
    statement_id: int | None = None
    post_id: int | None = None


@runtime_checkable
class Publisher(Protocol):
    """Publishes a post on a public channel.

    ``publish`` returns the channel's id for the post, or raises ``clinic_crm.DeliveryError(message,
    retryable=…)``.
    """

    def publish(self, post: PublicPost) -> str:
        """Publish ``post``; return the channel's post id."""
        ...
