"""Reputation: public mentions of a clinic (reviews, posts), its watch list, and the alerts they raise."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["SENTIMENTS", "ALERT_KINDS", "ALERT_STATUSES", "Mention", "ReputationWatch", "Alert"]

SENTIMENTS = ("negative", "neutral", "positive")
ALERT_KINDS = ("keyword", "negative_spike")
ALERT_STATUSES = ("open", "dismissed", "escalated")


class Mention(Base, table=True):
    """A public review or post about a clinic, unique per ``(clinic, source, external_id)``.

    ``sentiment`` is derived when the mention is ingested (from the rating, else from the clinic's negative
    terms); ``replied_at`` is set by a reply made here or by the source's own record of a reply.
    """

    __tablename__ = "mention"
    __table_args__ = (
        UniqueConstraint("clinic_id", "source", "external_id"),
        Index(None, "clinic_id", "posted_at"),
        Index(None, "clinic_id", "sentiment", "posted_at"),
    )

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    source: str = Field(max_length=40)  # "google", "facebook", "ptt", "dcard", "news", …
    external_id: str = Field(max_length=200)  # the source's id of the mention
    text: str = Field(max_length=20000)  # NFC; "" for a rating without a comment
    rating: int | None = Field(default=None)  # 1–5 stars when the source has them
    posted_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    sentiment: str = Field(max_length=10)  # one of SENTIMENTS
    author: str | None = Field(default=None, max_length=200)  # the public display name at the source
    url: str | None = Field(default=None, max_length=2000)
    replied_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    reply_text: str | None = Field(default=None, max_length=4000)  # the reply made through clinic_crm
    reply_by: str | None = Field(default=None, max_length=200)  # the member of staff who replied
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    def __repr__(self) -> str:  # never show the text or the author
        return f"Mention(id={self.id}, clinic_id={self.clinic_id}, source={self.source!r}, rating={self.rating})"


class ReputationWatch(Base, table=True):
    """A clinic's watch list: keywords that open alerts, and its negative terms (``None``: the shipped list)."""

    __tablename__ = "reputation_watch"

    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), primary_key=True))
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    negative_terms: list[str] | None = Field(default=None, sa_column=Column(JSON))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Alert(Base, table=True):
    """Something in the clinic's mentions that staff should look at: a keyword hit or a burst of negatives."""

    __tablename__ = "reputation_alert"
    __table_args__ = (
        Index(None, "clinic_id", "status"),
        Index(None, "clinic_id", "kind", "opened_at"),
    )

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    kind: str = Field(max_length=20)  # one of ALERT_KINDS
    mention_id: int | None = Field(default=None, sa_column=Column(Integer, ForeignKey("mention.id")))
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    detail: str = Field(max_length=500)  # what matched (a keyword, the counts); never the mention's text
    status: str = Field(default="open", max_length=20)  # one of ALERT_STATUSES
    dismissed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    dismissed_by: str | None = Field(default=None, max_length=200)
    dismiss_note: str | None = Field(default=None, max_length=2000)
    escalated_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    incident_id: int | None = Field(default=None)  # the incident it was escalated to (plain int, as Incident.alert_id)
