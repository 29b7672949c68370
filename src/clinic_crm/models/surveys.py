"""Surveys, invitations, responses and follow-ups.

The statistics read ``Response``, ``Answer`` and ``Invitation`` with plain SQL aggregates;
``Answer`` keeps each answer typed (``int_value`` for nps/rating, ``text_value`` for choice/text).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime
from clinic_crm.surveys_types import Question

__all__ = ["Survey", "Invitation", "Response", "Answer", "FollowUp"]


class Survey(Base, table=True):
    """One version of a survey; its questions never change once it has responses."""

    __tablename__ = "survey"
    __table_args__ = (UniqueConstraint("clinic_id", "name", "version"),)  # versions of one survey share its name

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    name: str = Field(max_length=200)
    version: int = Field(default=1)
    questions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))  # serialised Question list
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))

    @property
    def question_list(self) -> list[Question]:
        """The questions as ``Question`` objects, in survey order."""
        return [Question.from_dict(q) for q in self.questions]


class Invitation(Base, table=True):
    """An invitation to answer a survey about one visit, carrying a single-use token."""

    __tablename__ = "invitation"
    __table_args__ = (Index(None, "clinic_id", "sent_at"), Index(None, "survey_id", "visit_id"))

    id: int = Field(default=None, primary_key=True)
    survey_id: int = Field(sa_column=Column(Integer, ForeignKey("survey.id"), nullable=False))
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    visit_id: int = Field(sa_column=Column(Integer, ForeignKey("visit.id"), nullable=False, index=True))
    token: str = Field(max_length=64, unique=True)
    sent_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # the `at` of invite()
    expires_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    used_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    channel: str | None = Field(default=None, max_length=10)  # the channel it is expected to go by, if known
    reminder_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("reminder.id"))
    )  # None: not sent


class Response(Base, table=True):
    """A submitted survey response; answers are kept as given."""

    __tablename__ = "response"
    __table_args__ = (Index(None, "clinic_id", "answered_at"),)

    id: int = Field(default=None, primary_key=True)
    invitation_id: int = Field(sa_column=Column(Integer, ForeignKey("invitation.id"), nullable=False, unique=True))
    survey_id: int = Field(sa_column=Column(Integer, ForeignKey("survey.id"), nullable=False))
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    visit_id: int = Field(sa_column=Column(Integer, ForeignKey("visit.id"), nullable=False))
    answered_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    answers: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))


class Answer(Base, table=True):
    """One answer of a response, typed, so statistics run as plain SQL aggregates."""

    __tablename__ = "answer"
    __table_args__ = (UniqueConstraint("response_id", "question_key"), Index(None, "question_type", "response_id"))

    id: int = Field(default=None, primary_key=True)
    response_id: int = Field(sa_column=Column(Integer, ForeignKey("response.id"), nullable=False))
    question_key: str = Field(max_length=100)
    question_type: str = Field(max_length=20)  # "nps" | "rating" | "choice" | "text"
    int_value: int | None = Field(default=None)  # nps 0–10, rating 1–5
    text_value: str | None = Field(default=None, max_length=4000)  # choice or text


class FollowUp(Base, table=True):
    """A task for staff to call back an unhappy patient, due two working days after the answer."""

    __tablename__ = "follow_up"
    __table_args__ = (Index(None, "clinic_id", "closed_at", "due_at"),)

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    response_id: int = Field(sa_column=Column(Integer, ForeignKey("response.id"), nullable=False, unique=True))
    visit_id: int = Field(sa_column=Column(Integer, ForeignKey("visit.id"), nullable=False))
    patient_id: int = Field(sa_column=Column(Integer, ForeignKey("patient.id"), nullable=False))  # whom to call back
    reason: str = Field(max_length=100)  # "detractor", "low_rating" or "detractor,low_rating"
    opened_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    due_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    closed_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    note: str | None = Field(default=None, max_length=4000)
