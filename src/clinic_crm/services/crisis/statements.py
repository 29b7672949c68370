"""Statements of an incident: drafted, revised (versions of the same statement), approved by every approver
role, published through publishers (staff first), and turned into care notices to affected patients."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import actor_of, reads
from clinic_crm.errors import Conflict, InvalidTransition, ValidationError
from clinic_crm.messaging.post import PublicPost
from clinic_crm.messaging.render import locale_candidates
from clinic_crm.models import (
    AUDIENCES,
    TEAM_ROLES,
    Approval,
    Clinic,
    Incident,
    Patient,
    Reminder,
    Statement,
    TeamMember,
)
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.crisis.incidents import add_entry
from clinic_crm.services.crisis.plan import approver_roles
from clinic_crm.services.crisis.rules import (
    EXTERNAL_AUDIENCES,
    check_ids,
    check_publishable,
    is_fully_approved,
    next_update_due,
    pick_text,
    post_key,
)
from clinic_crm.services.reminders.rows import check_contactable, insert_rows, new_key, reminder_values
from clinic_crm.values import aware, check_choice, check_localized_text, utc

__all__ = [
    "NOTICE_KIND",
    "draft_statement",
    "revise_statement",
    "approve_statement",
    "publish_statement",
    "notify_patients",
    "get_statement",
    "list_statements",
]

#: The reminder kind of a notice to a patient about an incident (care purpose).
NOTICE_KIND = "incident_notice"
_TEXT_MAX = 4000


def _checked_text(clinic: Clinic, text: object) -> str | dict[str, str]:
    """A statement text; a ``{locale: str}`` dict must hold the clinic's locale or exactly one locale."""
    checked = check_localized_text(text, "text", max_length=_TEXT_MAX)
    if isinstance(checked, dict) and len(checked) > 1:
        if not any(c in checked for c in locale_candidates(clinic.locale)):
            raise ValidationError(
                "text: a text in several locales must include the clinic's locale (it is what is published)",
                field="text",
            )
    return checked


def _label(statement: Statement) -> str:
    return f"{statement.audience} statement {statement.series_id} v{statement.version}"


def draft_statement(
    session: Session, incident_id: int, *, audience: str, text: str | dict[str, str], at: datetime, by: str
) -> Statement:
    """Draft a statement of an incident (version 1, status ``"draft"``); the timeline gets ``"drafted"``.

    Args:
        audience: ``"staff" | "patients" | "public" | "media"``.
        text: a str or ``{locale: str}`` (several locales must include the clinic's).

    Raises:
        NotFound: no such incident.
        ValidationError: unknown audience, empty text or by.
        NaiveDatetimeError: ``at`` is naive.
    """
    audience = check_choice(audience, AUDIENCES, "audience")
    when = aware(at, "at")
    by = require_text(by, "by")
    incident = get_or_404(session, Incident, incident_id, for_update=True)
    clinic = get_or_404(session, Clinic, incident.clinic_id)
    statement = Statement(
        incident_id=incident_id,
        audience=audience,
        version=1,
        text=_checked_text(clinic, text),
        status="draft",
        drafted_at=when,
        drafted_by=by,
    )
    session.add(statement)
    session.flush()
    statement.series_id = statement.id
    add_entry(session, incident_id, at=when, kind="drafted", by=by, text=f"{_label(statement)} drafted")
    session.flush()
    session.refresh(statement, ["approvals"])  # loaded now: the caller reads it after the session closed
    return statement


def revise_statement(
    session: Session, statement_id: int, *, text: str | dict[str, str], at: datetime, by: str
) -> Statement:
    """Make the next version of the same statement (status ``"draft"``); the old version becomes ``"superseded"``.

    Approvals never carry over: the new version needs every approver role again.  A published version can be
    revised too (an update of what was said); it keeps its ``published_at``.

    Raises:
        NotFound: no such statement.
        ValidationError: empty text or by.
        NaiveDatetimeError: ``at`` is naive.
        InvalidTransition: the version is already superseded (revise the latest one).
    """
    when = aware(at, "at")
    by = require_text(by, "by")
    old = get_or_404(session, Statement, statement_id, for_update=True)
    if old.status == "superseded":
        raise InvalidTransition(
            f"statement {statement_id} is superseded; revise its latest version",
            current=old.status,
            requested="revised",
        )
    incident = get_or_404(session, Incident, old.incident_id, for_update=True)
    clinic = get_or_404(session, Clinic, incident.clinic_id)
    new = Statement(
        incident_id=old.incident_id,
        series_id=old.series_id,
        audience=old.audience,
        version=old.version + 1,
        text=_checked_text(clinic, text),
        status="draft",
        drafted_at=when,
        drafted_by=by,
    )
    old.status = "superseded"
    session.add(new)
    session.flush()
    add_entry(session, old.incident_id, at=when, kind="drafted", by=by, text=f"{_label(new)} drafted (revision)")
    session.flush()
    session.refresh(new, ["approvals"])  # none yet: approvals never carry over
    return new


def approve_statement(session: Session, statement_id: int, *, role: str, by: str, at: datetime) -> Statement:
    """Approve a statement version in a crisis-team role; it is ``"approved"`` once every approver role approved it.

    Approving again in the same role changes nothing.  The timeline gets ``"approved"``.

    Raises:
        NotFound: no such statement.
        ValidationError: ``role`` unknown or not held in the clinic's crisis team (``.field == "role"``), empty by.
        NaiveDatetimeError: ``at`` is naive.
        Conflict: the version is superseded, or already published.
    """
    role = check_choice(role, TEAM_ROLES, "role")
    by = require_text(by, "by")
    when = aware(at, "at")
    statement = get_or_404(session, Statement, statement_id, for_update=True)
    incident = get_or_404(session, Incident, statement.incident_id)
    held = session.scalar(
        select(exists().where(col(TeamMember.clinic_id) == incident.clinic_id, col(TeamMember.role) == role))
    )
    if not held:
        raise ValidationError(f"role {role} is not held in the clinic's crisis team", field="role")
    if statement.status == "superseded":
        raise Conflict(f"statement {statement_id} is superseded; approve its latest version")
    if statement.status == "published":
        raise Conflict(f"statement {statement_id} is already published")
    approved = {a.role for a in statement.approvals}
    if role not in approved:
        session.add(Approval(statement_id=statement_id, role=role, by=by, at=when))
        approved.add(role)
        complete = is_fully_approved(approver_roles(session, incident.clinic_id), approved)
        if complete and statement.status == "draft":
            statement.status, statement.approved_at = "approved", when
        suffix = " (approved)" if statement.status == "approved" else ""
        add_entry(
            session, incident.id or 0, at=when, kind="approved", by=by, text=f"{_label(statement)}: {role}{suffix}"
        )
        session.flush()
        session.refresh(statement, ["approvals"])
    return statement


def _channels(channels: object) -> list[str]:
    if isinstance(channels, str):
        channels = (channels,)
    if not isinstance(channels, Iterable):
        raise ValidationError("channels must be a list of channel names", field="channels")
    return list(dict.fromkeys(require_text(c, "channels", max_length=100) for c in channels))


def publish_statement(
    session: Session,
    statement_id: int,
    *,
    at: datetime,
    publisher: Any = None,
    channels: Iterable[str] = (),
    by: str | None = None,
) -> Statement:
    """Publish an approved statement version: ``publisher.publish(post)`` once per channel (not in a drill).

    Each ``PublicPost`` is in the clinic's locale (or the text's only locale), ``kind="statement"``, with the
    idempotency key ``"statement-<statement id>-<channel>"`` (stable per version and channel).  The first
    external publication (``patients``, ``public``, ``media``) sets the incident's ``first_statement_at``; every
    external one sets ``next_update_due_at = at + 24 h`` while the incident is open.  The timeline gets
    ``"published"``.  When a publisher raises ``DeliveryError`` the error propagates and nothing is recorded:
    the version stays approved; publishing it again hands every channel the same keys (the channels that
    already took the post can drop the duplicate).

    Args:
        publisher: a ``clinic_crm.Publisher`` (needed when ``channels`` are given).
        channels: the clinic's names of its channels (``"website"``, ``"facebook"``…); ``()``: record only.
        by: who publishes, for the timeline (default: the facade's actor).

    Returns:
        The statement (``status == "published"``, ``posts`` maps each channel to the channel's post id).

    Raises:
        NotFound: no such statement.
        NotApproved: the version is not approved (a draft, superseded or already published), or it is external
            and no staff statement of the incident was published yet.
        ValidationError: channels without a publisher, an empty channel name.
        NaiveDatetimeError: ``at`` is naive.
        DeliveryError: a publisher failed (nothing recorded).
    """
    when = aware(at, "at")
    names = _channels(channels)
    if names and not callable(getattr(publisher, "publish", None)):
        raise ValidationError("publisher must have a publish(post) method when channels are given", field="publisher")
    actor = actor_of(session) if by is None else require_text(by, "by")
    statement = get_or_404(session, Statement, statement_id, for_update=True)
    incident = get_or_404(session, Incident, statement.incident_id, for_update=True)
    staff_told = bool(
        session.scalar(
            select(
                exists().where(
                    col(Statement.incident_id) == incident.id,
                    col(Statement.audience) == "staff",
                    col(Statement.published_at).is_not(None),
                )
            )
        )
    )
    check_publishable(status=statement.status, audience=statement.audience, staff_told=staff_told)
    clinic = get_or_404(session, Clinic, incident.clinic_id)
    text, locale = pick_text(statement.text, locale_candidates(clinic.locale))
    posts: dict[str, str] = {}
    if not incident.drill:
        for channel in names:
            post = PublicPost(
                idempotency_key=post_key(statement_id, channel),
                clinic_id=clinic.id or 0,
                channel=channel,
                text=text,
                locale=locale or clinic.locale,
                kind="statement",
                incident_id=incident.id,
                statement_id=statement_id,
            )
            posts[channel] = str(publisher.publish(post))
    statement.status, statement.published_at, statement.posts = "published", when, posts
    if statement.audience in EXTERNAL_AUDIENCES:
        if incident.first_statement_at is None:
            incident.first_statement_at = when
        if incident.status == "open":
            incident.next_update_due_at = next_update_due(when)
    where = f" on {', '.join(names)}" if names else ""
    if incident.drill and names:
        where = f" (drill: nothing sent to {', '.join(names)})"
    add_entry(
        session, incident.id or 0, at=when, kind="published", by=actor, text=f"{_label(statement)} published{where}"
    )
    session.flush()
    return statement


def notify_patients(session: Session, statement_id: int, *, patient_ids: Iterable[int], at: datetime) -> int:
    """Turn a published ``patients`` statement into one care reminder per patient (kind ``"incident_notice"``).

    Each reminder is due at ``at`` and carries the statement's text in the patient's locale (else the clinic's,
    else the text's first locale); ``dispatch`` sends it like any other care message (consent for care, quiet
    hours, exactly once) and a marketing pause does not hold it.  Idempotent per (statement version, patient):
    a patient already notified of this version gets no second reminder.  In a drill no reminder is made.

    Returns:
        The number of reminders made.

    Raises:
        NotFound: no such statement.
        Conflict: the statement is not a published ``patients`` statement.
        ValidationError: ``patient_ids`` not a list of ids of the incident's clinic.
        NaiveDatetimeError: ``at`` is naive.
    """
    when = aware(at, "at")
    ids = check_ids(patient_ids, "patient_ids")
    statement = get_or_404(session, Statement, statement_id, for_update=True)
    if statement.audience != "patients" or statement.status != "published":
        raise Conflict(
            f"statement {statement_id} is a {statement.status} {statement.audience} statement; "
            "only a published patients statement becomes notices"
        )
    incident = get_or_404(session, Incident, statement.incident_id)
    clinic = get_or_404(session, Clinic, incident.clinic_id)
    rows = session.execute(
        select(col(Patient.id), col(Patient.locale)).where(
            col(Patient.id).in_(ids), col(Patient.clinic_id) == clinic.id
        )
    ).all()
    locales = {int(pid or 0): str(locale) for pid, locale in rows}
    if len(locales) != len(ids):
        raise ValidationError("patient_ids names a patient that is not of the incident's clinic", field="patient_ids")
    if incident.drill:
        return 0
    keys = {pid: f"{NOTICE_KIND}:{statement_id}:{pid}" for pid in ids}
    done = set(session.scalars(select(col(Reminder.plan_key)).where(col(Reminder.plan_key).in_(keys.values()))))
    fresh = [pid for pid in ids if keys[pid] not in done]
    check_contactable(session, fresh)
    created = utc(None)
    notices: list[dict[str, Any]] = []
    for pid in fresh:
        patient_locale = locales[pid] or clinic.locale
        text, _ = pick_text(statement.text, (*locale_candidates(patient_locale), *locale_candidates(clinic.locale)))
        notices.append(
            reminder_values(
                clinic_id=clinic.id,
                patient_id=pid,
                kind=NOTICE_KIND,
                purpose="care",
                due_at=when,
                payload={"notice": text, "incident_id": incident.id, "statement_id": statement_id},
                plan_key=keys[pid],
                idempotency_key=new_key(),
                created_at=created,
            )
        )
    return insert_rows(session, notices)


@reads
def get_statement(session: Session, statement_id: int) -> Statement:
    """Return the statement version or raise ``NotFound``."""
    return get_or_404(session, Statement, statement_id)


@reads
def list_statements(session: Session, incident_id: int) -> list[Statement]:
    """Every statement version of an incident, in the order drafted.

    Raises:
        NotFound: no such incident.
    """
    get_or_404(session, Incident, incident_id)
    query = select(Statement).where(col(Statement.incident_id) == incident_id)
    return list(session.scalars(query.order_by(col(Statement.drafted_at), col(Statement.id))))
