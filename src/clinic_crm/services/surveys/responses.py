"""Taking a response: check the token and every answer, consume the token atomically, store, follow up."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import TokenExpired, TokenUsed, UnknownToken, ValidationError
from clinic_crm.models import Answer, Clinic, Invitation, Reminder, Response, Survey, Visit
from clinic_crm.services._common import get_or_404
from clinic_crm.services.surveys.follow_ups import follow_up_reason, open_follow_up
from clinic_crm.services.surveys.questions import check_answers
from clinic_crm.values import aware

__all__ = ["submit", "get_response"]

TOKEN_MAX = 64


def submit(session: Session, token: str, answers: dict[str, Any], *, at: datetime) -> Response:
    """Store a response to the invitation that carries ``token``.

    Checks, in order: the token is known, unused, not expired (``at >= expires_at`` is expired),
    ``at`` is not before the invitation was made, then every answer (see
    :func:`~clinic_crm.services.surveys.questions.check_answers`).  The token is consumed with
    ``UPDATE invitation SET used_at = :at WHERE token = :token AND used_at IS NULL``: of two
    concurrent submits exactly one changes the row; the other gets ``TokenUsed``.

    ``answers`` maps question keys to answers: an ``int`` for ``nps`` (0–10) and ``rating`` (1–5) (``bool`` is
    not an ``int`` here), one of the options for ``choice``, a string of at most 2000 characters for ``text``.
    Unknown keys are rejected.  On any error nothing is stored and the token stays usable.

    A response with an nps answer 0–6 or a rating 1–2 opens one follow-up.  A pending reminder
    still carrying the invitation is cancelled (the patient has answered already).

    Returns:
        The ``Response``; ``.answers`` maps each answered question key to its (normalised) answer.

    Raises:
        UnknownToken, TokenUsed, TokenExpired: see above.
        InvalidAnswer: ``.field`` is the question key.
        ValidationError: ``answers`` is not a dict; ``at`` is before the invitation was made.
        NaiveDatetimeError: ``at`` is naive.
    """
    when = aware(at, "at")
    if not isinstance(token, str) or not token or len(token) > TOKEN_MAX:
        raise UnknownToken("no survey invitation carries this token")
    # one round trip for what every later step needs: the invitation, the patient, the clinic's zone
    found = session.execute(
        select(Invitation, col(Visit.patient_id), col(Clinic.timezone))
        .join(Visit, col(Visit.id) == col(Invitation.visit_id))
        .join(Clinic, col(Clinic.id) == col(Invitation.clinic_id))
        .where(col(Invitation.token) == token)
    ).first()
    if found is None:
        raise UnknownToken("no survey invitation carries this token")
    invitation, patient_id, timezone = found
    if invitation.used_at is not None:
        raise TokenUsed("this survey invitation was already answered")
    if when >= invitation.expires_at:
        raise TokenExpired("this survey invitation has expired")
    if when < invitation.sent_at:
        raise ValidationError("at is before the invitation was made", field="at")
    # a shared lock on the survey version: update_survey (which takes an exclusive one) cannot change
    # the questions between this check and the response landing
    survey = session.scalars(
        select(Survey).where(col(Survey.id) == invitation.survey_id).with_for_update(read=True)
    ).one()
    checked = check_answers(survey.question_list, answers)
    consumed = session.execute(
        update(Invitation)
        .where(col(Invitation.token) == token, col(Invitation.used_at).is_(None))
        .values(used_at=when)
        .execution_options(synchronize_session=False)
    )
    if consumed.rowcount != 1:  # type: ignore[attr-defined]
        raise TokenUsed("this survey invitation was already answered")
    assert invitation.id is not None and survey.id is not None
    response = Response(
        invitation_id=invitation.id,
        survey_id=survey.id,
        clinic_id=invitation.clinic_id,
        visit_id=invitation.visit_id,
        answered_at=when,
        answers={a.key: a.value for a in checked},
    )
    session.add(response)
    session.flush()
    if checked:
        session.execute(
            insert(Answer),
            [
                {
                    "response_id": response.id,
                    "question_key": a.key,
                    "question_type": a.type,
                    "int_value": a.int_value,
                    "text_value": a.text_value,
                }
                for a in checked
            ],
        )
    reason = follow_up_reason(checked)
    if reason is not None:
        assert response.id is not None
        open_follow_up(
            session,
            clinic_id=invitation.clinic_id,
            response_id=response.id,
            visit_id=invitation.visit_id,
            patient_id=patient_id,
            reason=reason,
            answered_at=when,
        )
    if invitation.reminder_id is not None:
        session.execute(
            update(Reminder)
            .where(col(Reminder.id) == invitation.reminder_id, col(Reminder.status) == "pending")
            .values(status="cancelled")
            .execution_options(synchronize_session=False)
        )
    session.expire(invitation)
    return response


@reads
def get_response(session: Session, response_id: int) -> Response:
    """Return one response.

    Raises:
        NotFound: no such response.
    """
    return get_or_404(session, Response, response_id)
