"""Creating surveys and versioning them: questions never change once a version has responses."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import Conflict, NotFound
from clinic_crm.models import Clinic, Response, Survey
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.surveys.questions import check_questions
from clinic_crm.surveys_types import Question
from clinic_crm.values import utc

__all__ = ["create_survey", "update_survey", "get_survey", "latest_survey", "has_responses"]


def create_survey(
    session: Session,
    clinic_id: int,
    *,
    name: str,
    questions: Sequence[Question | dict[str, Any]],
    now: datetime | None = None,
) -> Survey:
    """Create a survey: version 1, or the next version when the clinic already has one of that name.

    Args:
        clinic_id: the clinic that runs it.
        name: versions of one survey share it; creating a taken name makes its next version
            (old versions, and their responses, are kept as they were).
        questions: a non-empty list of ``Question(key, type, text, options=None, required=True)`` (or dicts of
            those keys), keys unique and identifier-like; types ``"nps"`` (0–10), ``"rating"`` (1–5),
            ``"choice"`` (``options`` required, unique) and ``"text"``; ``text`` is a ``str`` or a
            ``{locale: str}`` dict.

    Raises:
        NotFound: no such clinic.
        ValidationError: a malformed name or question (``.field`` names it, e.g. ``"questions[q1].options"``).
        Conflict: a concurrent ``create`` of the same name took the version number first.
    """
    name = require_text(name, "name")
    checked = check_questions(questions)
    get_or_404(session, Clinic, clinic_id)
    newest = session.scalar(
        select(func.max(col(Survey.version))).where(col(Survey.clinic_id) == clinic_id, col(Survey.name) == name)
    )
    survey = Survey(
        clinic_id=clinic_id,
        name=name,
        version=(newest or 0) + 1,
        questions=[q.to_dict() for q in checked],
        created_at=utc(now),
    )
    session.add(survey)
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("another survey of that name was created at the same moment; try again") from exc
    return survey


@reads
def get_survey(session: Session, survey_id: int) -> Survey:
    """Return one version of a survey (``Survey.question_list`` gives its ``Question`` objects).

    Raises:
        NotFound: no such survey.
    """
    return get_or_404(session, Survey, survey_id)


@reads
def latest_survey(session: Session, clinic_id: int, name: str) -> Survey:
    """Return the newest version of the clinic's survey called ``name``.

    Raises:
        NotFound: the clinic has no survey of that name.
    """
    name = require_text(name, "name")
    survey = session.scalars(
        select(Survey)
        .where(col(Survey.clinic_id) == clinic_id, col(Survey.name) == name)
        .order_by(col(Survey.version).desc())
        .limit(1)
    ).first()
    if survey is None:
        raise NotFound("the clinic has no survey of that name")
    return survey


def has_responses(session: Session, survey_id: int) -> bool:
    """True when any response was stored for this version of the survey."""
    return bool(session.scalar(select(exists().where(col(Response.survey_id) == survey_id))))


def update_survey(
    session: Session,
    survey_id: int,
    *,
    questions: Sequence[Question | dict[str, Any]],
    now: datetime | None = None,
) -> Survey:
    """Change a survey's questions; return the survey version that now holds them (``new_version`` is the same).

    Identical questions change nothing.  Without responses the version is changed in place
    (same id and version).  With responses a new ``Survey`` row is added (same clinic and name,
    ``version + 1``) and returned; the old version and its responses are untouched, so they
    keep their meaning.  Invitations already sent keep pointing at the version they were made for.

    Raises:
        NotFound: no such survey.
        ValidationError: a malformed question.
        Conflict: ``survey_id`` is not the newest version of its survey.
    """
    checked = check_questions(questions)
    # the row lock keeps a concurrent submit (which takes a shared lock) from slipping in a response
    survey = get_or_404(session, Survey, survey_id, for_update=True)
    newest = session.scalar(
        select(func.max(col(Survey.version))).where(
            col(Survey.clinic_id) == survey.clinic_id, col(Survey.name) == survey.name
        )
    )
    if newest != survey.version:
        raise Conflict(f"survey {survey_id} is version {survey.version}; version {newest} is the newest")
    stored = [q.to_dict() for q in checked]
    if stored == survey.questions:
        return survey  # nothing changes: no new version
    if not has_responses(session, survey_id):
        survey.questions = stored
        session.flush()
        return survey
    new = Survey(
        clinic_id=survey.clinic_id,
        name=survey.name,
        version=survey.version + 1,
        questions=stored,
        created_at=utc(now),
    )
    session.add(new)
    session.flush()
    return new
