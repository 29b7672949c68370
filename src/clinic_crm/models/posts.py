"""Scheduled public posts: the clinic's content calendar, held while an incident is open."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["POST_KINDS", "POST_STATUSES", "Post"]

POST_KINDS = ("health_education", "news", "event", "promotion")
POST_STATUSES = ("scheduled", "held", "published", "failed", "cancelled")


class Post(Base, table=True):
    """One text for one public channel, published once at or after ``publish_at``.

    A post being published stays ``"scheduled"`` with a claim token and a lease (``ready_at`` is the lease end);
    after the lease another ``publish_due`` may take it over, with the same ``idempotency_key``.
    """

    __tablename__ = "post"
    __table_args__ = (
        Index(None, "status", "ready_at"),  # the claim query
        Index(None, "clinic_id", "status"),
    )

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    channel: str = Field(max_length=50)  # the clinic's name for the channel: "website", "facebook"…
    text: Any = Field(sa_column=Column(JSON, nullable=False))  # a str, or {locale: str}
    kind: str = Field(default="health_education", max_length=30)  # one of POST_KINDS
    publish_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status: str = Field(default="scheduled", max_length=20)  # one of POST_STATUSES
    # when it may next be claimed: publish_at, the release, the next retry, or the end of a claim's lease
    ready_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    attempts: int = Field(default=0)  # failed publishing attempts so far
    next_attempt_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    idempotency_key: str = Field(max_length=64, unique=True)  # the same for every attempt and take-over
    claim_token: str | None = Field(default=None, max_length=64)  # fences a publisher whose lease was taken over
    claimed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    provider_post_id: str | None = Field(default=None, max_length=200)  # the channel's id for the post
    published_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    held_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    held_by_incident_id: int | None = Field(default=None)  # the open incident that held it
    released_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    released_by: str | None = Field(default=None, max_length=200)
    cancelled_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    cancelled_by: str | None = Field(default=None, max_length=200)
    last_error: str | None = Field(default=None, max_length=500)  # the publisher's error, without the post's text
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
