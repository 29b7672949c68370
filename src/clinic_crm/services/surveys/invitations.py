"""Inviting patients to answer a survey about a completed visit.

An invitation carries a single-use, unguessable token (``secrets.token_urlsafe(32)``) and is sent as
a ``care``-purpose reminder of kind ``"survey"`` whose payload holds the link
(``clinic.survey_url_template.format(token=…)``), due ``clinic.survey_delay_minutes`` after the visit
was completed (or at ``at``, when that is later), and expiring with the token.  A clinic without a URL template gets the
invitation (a token it can hand out itself, e.g. as a QR code) but no reminder.

A visit gets at most one invitation per survey, counting every version of it.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Exists, String, cast, exists, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import Conflict, ValidationError
from clinic_crm.models import CHANNELS, Clinic, Invitation, Patient, Reminder, Survey, Visit
from clinic_crm.services._common import get_or_404
from clinic_crm.services.reminders.rows import insert_rows, new_key, reminder_values
from clinic_crm.services.reminders.scheduling import new_reminder
from clinic_crm.values import aware, check_choice

__all__ = ["DEFAULT_EXPIRY", "MAX_EXPIRY", "invite", "invite_completed", "survey_link", "get_invitation"]

#: How long an invitation's token stays valid by default.
DEFAULT_EXPIRY = timedelta(days=14)
#: The longest validity accepted.
MAX_EXPIRY = timedelta(days=366)
TOKEN_BYTES = 32


def survey_link(clinic: Clinic, token: str) -> str | None:
    """The respondent's link for ``token``, or ``None`` when the clinic has no ``survey_url_template``."""
    if not clinic.survey_url_template:
        return None
    return clinic.survey_url_template.format(token=token)


def _check_expiry(expires_in: object) -> timedelta:
    if not isinstance(expires_in, timedelta) or not timedelta(0) < expires_in <= MAX_EXPIRY:
        raise ValidationError("expires_in must be a timedelta from over 0 up to 366 days", field="expires_in")
    return expires_in


def _expected_channel(phone: str | None, email: str | None) -> str | None:
    # the channel a care message to this patient is expected to use: SMS when there is a phone
    if phone:
        return "sms"
    if email:
        return "email"
    return None


def _same_survey_invited(survey: Survey, visit_id_column: Any) -> Exists:
    """``EXISTS`` an invitation of any version of ``survey`` for the visit."""
    other = aliased(Survey)
    return exists().where(
        col(Invitation.visit_id) == visit_id_column,
        col(Invitation.survey_id) == col(other.id),
        col(other.clinic_id) == survey.clinic_id,
        col(other.name) == survey.name,
    )


@dataclass(frozen=True)
class _Target:
    visit_id: int
    patient_id: int
    completed_at: datetime
    channel: str | None  # expected (or forced) channel, stored on the invitation
    sent_at: datetime
    forced_channel: str | None = None  # passed to the reminder


def _create(
    session: Session,
    survey: Survey,
    clinic: Clinic,
    targets: Sequence[_Target],
    *,
    expires_in: timedelta,
    send: bool,
) -> list[Invitation]:
    """Insert the invitations (one batched INSERT) and schedule their reminders."""
    assert survey.id is not None
    invitations = [
        Invitation(
            survey_id=survey.id,
            clinic_id=survey.clinic_id,
            visit_id=t.visit_id,
            token=secrets.token_urlsafe(TOKEN_BYTES),
            sent_at=t.sent_at,
            expires_at=t.sent_at + expires_in,
            used_at=None,
            channel=t.channel,
        )
        for t in targets
    ]
    session.add_all(invitations)
    try:
        session.flush()
    except IntegrityError as exc:  # a token collision: 256 random bits make this practically impossible
        raise Conflict("could not store the invitation; try again") from exc
    if not (send and clinic.survey_url_template):
        return invitations
    delay = timedelta(minutes=clinic.survey_delay_minutes)
    if len(invitations) == 1:  # one invitation: the checked, ORM way
        (target,), (invitation,) = targets, invitations
        reminder = new_reminder(
            session,
            target.patient_id,
            kind="survey",
            purpose="care",
            due_at=max(target.completed_at + delay, target.sent_at),
            channel=target.forced_channel,
            visit_id=target.visit_id,
            payload={"url": survey_link(clinic, invitation.token), "survey_name": survey.name},
            plan_key=f"survey:{invitation.id}",
            now=target.sent_at,
            expires_at=invitation.expires_at,
        )
        invitation.reminder_id = reminder.id
        session.flush()
        return invitations
    # many (the nightly job): one batched INSERT of the reminders, one UPDATE linking them back
    rows = []
    for target, invitation in zip(targets, invitations, strict=True):
        due = max(target.completed_at + delay, target.sent_at)
        rows.append(
            reminder_values(
                clinic_id=survey.clinic_id,
                patient_id=target.patient_id,
                visit_id=target.visit_id,
                kind="survey",
                purpose="care",
                channel=target.forced_channel,
                due_at=due,
                expires_at=invitation.expires_at,
                idempotency_key=new_key(),
                plan_key=f"survey:{invitation.id}",
                payload={"url": survey_link(clinic, invitation.token), "survey_name": survey.name},
                created_at=target.sent_at,
            )
        )
    insert_rows(session, rows)
    ids = [invitation.id for invitation in invitations]
    linked = (
        select(col(Reminder.id))
        .where(col(Reminder.plan_key) == literal("survey:") + cast(col(Invitation.id), String))
        .scalar_subquery()
    )
    for start in range(0, len(ids), 1000):
        session.execute(
            update(Invitation)
            .where(col(Invitation.id).in_(ids[start : start + 1000]))
            .values(reminder_id=linked)
            .execution_options(synchronize_session=False)
        )
    for invitation in invitations:
        session.expire(invitation, ["reminder_id"])
    return invitations


def invite(
    session: Session,
    survey_id: int,
    *,
    visit_id: int,
    at: datetime,
    expires_in: timedelta = DEFAULT_EXPIRY,
    channel: str | None = None,
    send: bool = True,
) -> Invitation:
    """Invite the patient of a completed visit to answer a survey (sent as a ``care`` reminder of kind ``"survey"``).

    The reminder is due ``clinic.survey_delay_minutes`` after the visit was completed (or at ``at`` if later),
    its payload ``{"url": link, "survey_name": name}`` with the link made from ``clinic.survey_url_template``.
    Without a template (or with ``send=False``) the invitation is made but no reminder is scheduled.

    Args:
        survey_id: the survey version to answer.
        visit_id: a completed visit of the survey's clinic.
        at: when the invitation is made (``sent_at``); the token expires at ``at + expires_in``.
        expires_in: validity of the token (default 14 days).
        channel: ``"sms"`` or ``"email"`` to force the reminder's channel; ``None`` lets the
            dispatcher choose (``Invitation.channel`` then records the expected one: SMS when
            the patient has a phone, else e-mail).
        send: ``False`` creates the invitation without a reminder (the clinic hands the link out).

    Returns:
        The invitation; ``.token`` is the secret to put in the link, ``.reminder_id`` the
        reminder that carries it (``None`` when nothing is sent).

    Raises:
        NotFound: no such survey or visit.
        NaiveDatetimeError: ``at`` is naive.
        ValidationError: the visit belongs to another clinic (``.field == "visit_id"``);
            a malformed ``expires_in`` or ``channel``.
        Conflict: the visit is not completed.

    Inviting a visit again is allowed (staff re-sending a fresh link, say): it is an explicit
    act, so it makes a new invitation with its own token.  The nightly
    :func:`invite_completed` never invites a visit that already has an invitation.
    """
    when = aware(at, "at")
    expiry = _check_expiry(expires_in)
    if channel is not None:
        channel = check_choice(channel, CHANNELS, "channel")
    survey = get_or_404(session, Survey, survey_id)
    visit = get_or_404(session, Visit, visit_id)
    if visit.clinic_id != survey.clinic_id:
        raise ValidationError("visit_id belongs to another clinic than the survey", field="visit_id")
    if visit.status != "completed" or visit.completed_at is None:
        raise Conflict(f"visit {visit_id} is {visit.status}; only a completed visit can be invited to a survey")
    clinic = get_or_404(session, Clinic, survey.clinic_id)
    patient = get_or_404(session, Patient, visit.patient_id)
    target = _Target(
        visit_id=visit_id,
        patient_id=visit.patient_id,
        completed_at=visit.completed_at,
        channel=channel or _expected_channel(patient.phone, patient.email),
        sent_at=when,
        forced_channel=channel,
    )
    (invitation,) = _create(session, survey, clinic, [target], expires_in=expiry, send=send)
    return invitation


def invite_completed(
    session: Session,
    survey_id: int,
    *,
    since: datetime,
    until: datetime,
    at: datetime | None,
    expires_in: timedelta = DEFAULT_EXPIRY,
    send: bool = True,
) -> int:
    """Invite every completed visit of the survey's clinic, completed in ``[since, until)``, not yet invited.

    Meant for a nightly job: running it twice over the same period invites nobody twice.
    The visits are picked with one set-based query; the invitations go in with one batched INSERT.

    Args:
        since, until: the completion times of the visits to invite.
        at: the ``sent_at`` of every invitation; ``None`` (for back-filling) uses each visit's
            completion time plus the clinic's ``survey_delay_minutes``.
        expires_in: validity of each token (default 14 days).
        send: ``False`` schedules no reminders (as :func:`invite`).

    Returns:
        How many invitations were made.

    Raises:
        NotFound: no such survey.
        NaiveDatetimeError: a naive datetime.
        ValidationError: ``since`` is not before ``until``; a malformed ``expires_in``.
    """
    start = aware(since, "since")
    end = aware(until, "until")
    when = aware(at, "at") if at is not None else None
    if not start < end:
        raise ValidationError("since must be before until", field="since")
    expiry = _check_expiry(expires_in)
    # lock the survey row: two nightly runs of one survey queue here (PostgreSQL; SQLite's write lock
    # already serialises them), so the second sees the first's invitations and invites nobody twice
    survey = get_or_404(session, Survey, survey_id, for_update=True)
    clinic = get_or_404(session, Clinic, survey.clinic_id)
    completed_at = col(Visit.completed_at)
    rows = session.execute(
        select(col(Visit.id), col(Visit.patient_id), col(Visit.completed_at), col(Patient.phone), col(Patient.email))
        .join(Patient, col(Patient.id) == col(Visit.patient_id))
        .where(
            col(Visit.clinic_id) == survey.clinic_id,
            col(Visit.status) == "completed",
            completed_at >= start,
            completed_at < end,
            ~_same_survey_invited(survey, col(Visit.id)),
        )
        .order_by(col(Visit.completed_at), col(Visit.id))
    ).all()
    if not rows:
        return 0
    delay = timedelta(minutes=clinic.survey_delay_minutes)
    targets: list[_Target] = []
    for visit_id, patient_id, done, phone, email in rows:
        assert visit_id is not None and done is not None  # completed visits have both
        targets.append(
            _Target(
                visit_id=visit_id,
                patient_id=patient_id,
                completed_at=done,
                channel=_expected_channel(phone, email),
                sent_at=when if when is not None else done + delay,
            )
        )
    return len(_create(session, survey, clinic, targets, expires_in=expiry, send=send))


@reads
def get_invitation(session: Session, invitation_id: int) -> Invitation:
    """Return one invitation.

    Raises:
        NotFound: no such invitation.
    """
    return get_or_404(session, Invitation, invitation_id)
