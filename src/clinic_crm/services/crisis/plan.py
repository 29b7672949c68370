"""The crisis plan: the team (one member per role), outside contacts, playbooks with holding statements,
the approver roles, and the readiness score a clinic manager looks at once a month."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import reads
from clinic_crm.errors import NotFound, ValidationError
from clinic_crm.models import (
    CONTACT_KINDS,
    CRISIS_TYPES,
    TEAM_ROLES,
    Clinic,
    Contact,
    CrisisApprover,
    Incident,
    Playbook,
    Risk,
    TeamMember,
)
from clinic_crm.services._common import get_or_404, optional_text, require_text
from clinic_crm.services.crisis.rules import (
    DEFAULT_APPROVERS,
    DRILL_WITHIN,
    Check,
    Readiness,
    readiness_score,
)
from clinic_crm.values import aware, check_choice, check_localized_text, clean_text, normalize_email, normalize_phone

__all__ = [
    "READINESS_PLAYBOOKS",
    "set_member",
    "team",
    "add_contact",
    "contacts",
    "set_playbook",
    "playbook",
    "set_approvers",
    "approvers",
    "approver_roles",
    "readiness",
]

#: The crisis types the readiness check ``"playbooks"`` wants a holding statement for.
READINESS_PLAYBOOKS = ("data_breach", "medical_error", "negative_publicity")
_STATEMENT_MAX = 4000


def _contact_details(clinic: Clinic, phone: object, email: object) -> tuple[str | None, str | None]:
    """Phone as E.164 (the clinic's region) and e-mail normalised; errors never echo the value in the message."""
    return (
        None if phone is None else normalize_phone(phone, clinic.region),
        None if email is None else normalize_email(email),
    )


def set_member(
    session: Session, clinic_id: int, *, role: str, name: str, phone: str | None = None, email: str | None = None
) -> TeamMember:
    """Set who holds a crisis-team role (setting a role again replaces the person).

    Args:
        role: ``"lead"`` (decides, approves), ``"spokesperson"``, ``"communications"``, ``"legal"``, ``"medical"``
            or ``"it_security"``.
        name: the member of staff.
        phone: any format the clinic's region parses (stored E.164); email: stored normalised.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown role, empty name; InvalidPhoneNumber, InvalidEmail.
    """
    role = check_choice(role, TEAM_ROLES, "role")
    name = require_text(name, "name")
    clinic = get_or_404(session, Clinic, clinic_id, for_update=True)
    phone, email = _contact_details(clinic, phone, email)
    member = session.scalars(
        select(TeamMember).where(col(TeamMember.clinic_id) == clinic_id, col(TeamMember.role) == role)
    ).first()
    if member is None:
        member = TeamMember(clinic_id=clinic_id, role=role, name=name, phone=phone, email=email)
        session.add(member)
    else:
        member.name, member.phone, member.email = name, phone, email
    session.flush()
    return member


@reads
def team(session: Session, clinic_id: int) -> list[TeamMember]:
    """The clinic's crisis team, one member per role held, in the order of the roles (lead first).

    Raises:
        NotFound: no such clinic.
    """
    get_or_404(session, Clinic, clinic_id)
    members = session.scalars(select(TeamMember).where(col(TeamMember.clinic_id) == clinic_id)).all()
    return sorted(members, key=lambda m: TEAM_ROLES.index(m.role))


def add_contact(
    session: Session,
    clinic_id: int,
    *,
    kind: str,
    name: str,
    phone: str | None = None,
    email: str | None = None,
    note: str | None = None,
) -> Contact:
    """Add an outside contact for a crisis.

    Args:
        kind: ``"lawyer" | "pr_agency" | "partner_hospital" | "insurer" | "regulator" | "media" | "it_support"``.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown kind, empty name; InvalidPhoneNumber, InvalidEmail.
    """
    kind = check_choice(kind, CONTACT_KINDS, "kind")
    name = require_text(name, "name")
    note = optional_text(note, "note", max_length=2000)
    clinic = get_or_404(session, Clinic, clinic_id)
    phone, email = _contact_details(clinic, phone, email)
    contact = Contact(clinic_id=clinic_id, kind=kind, name=name, phone=phone, email=email, note=note)
    session.add(contact)
    session.flush()
    return contact


@reads
def contacts(session: Session, clinic_id: int) -> list[Contact]:
    """The clinic's outside contacts, in the order they were added.

    Raises:
        NotFound: no such clinic.
    """
    get_or_404(session, Clinic, clinic_id)
    query = select(Contact).where(col(Contact.clinic_id) == clinic_id).order_by(col(Contact.id))
    return list(session.scalars(query))


def set_playbook(
    session: Session,
    clinic_id: int,
    *,
    crisis_type: str,
    steps: list[str],
    holding_statement: str | dict[str, str],
) -> Playbook:
    """Set (or replace) the playbook of one crisis type: its steps and a holding statement approved in advance.

    Args:
        crisis_type: ``"data_breach" | "medical_error" | "infection" | "public_accident" | "service_outage" |
            "negative_publicity" | "other"``.
        steps: what to do, in order (at least one).
        holding_statement: a str or ``{locale: str}``.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown crisis type, no steps or an empty one, an empty holding statement.
    """
    crisis_type = check_choice(crisis_type, CRISIS_TYPES, "crisis_type")
    if isinstance(steps, str) or not isinstance(steps, Iterable):
        raise ValidationError("steps must be a list of strings", field="steps")
    checked_steps = [clean_text(step, "steps", max_length=1000, allowed_controls="\n\t") for step in steps]
    if not checked_steps:
        raise ValidationError("steps must name at least one step", field="steps")
    statement = check_localized_text(holding_statement, "holding_statement", max_length=_STATEMENT_MAX)
    get_or_404(session, Clinic, clinic_id, for_update=True)
    found = session.scalars(
        select(Playbook).where(col(Playbook.clinic_id) == clinic_id, col(Playbook.crisis_type) == crisis_type)
    ).first()
    if found is None:
        found = Playbook(clinic_id=clinic_id, crisis_type=crisis_type, steps=checked_steps, holding_statement=statement)
        session.add(found)
    else:
        found.steps, found.holding_statement = checked_steps, statement
    session.flush()
    return found


@reads
def playbook(session: Session, clinic_id: int, crisis_type: str) -> Playbook:
    """The clinic's playbook for a crisis type.

    Raises:
        NotFound: no such clinic, or no playbook was set for that type.
        ValidationError: unknown crisis type.
    """
    crisis_type = check_choice(crisis_type, CRISIS_TYPES, "crisis_type")
    get_or_404(session, Clinic, clinic_id)
    found = session.scalars(
        select(Playbook).where(col(Playbook.clinic_id) == clinic_id, col(Playbook.crisis_type) == crisis_type)
    ).first()
    if found is None:
        raise NotFound(f"clinic {clinic_id} has no playbook for {crisis_type}")
    return found


def set_approvers(session: Session, clinic_id: int, roles: Iterable[str]) -> tuple[str, ...]:
    """Set the team roles whose approval makes a statement approved (replacing the previous set).

    The default, until this is called, is ``("lead",)``.  The new set applies to approvals given from now on.

    Returns:
        The roles, in the order given (duplicates dropped).

    Raises:
        NotFound: no such clinic.
        ValidationError: an unknown role, or no role at all (``.field == "roles"``).
    """
    if isinstance(roles, str):
        roles = (roles,)
    if not isinstance(roles, Iterable):
        raise ValidationError("roles must be a list of crisis-team roles", field="roles")
    wanted = tuple(dict.fromkeys(check_choice(r, TEAM_ROLES, "roles") for r in roles))
    if not wanted:
        raise ValidationError("roles must name at least one crisis-team role", field="roles")
    get_or_404(session, Clinic, clinic_id, for_update=True)
    session.execute(delete(CrisisApprover).where(col(CrisisApprover.clinic_id) == clinic_id))
    session.add_all(CrisisApprover(clinic_id=clinic_id, role=role) for role in wanted)
    session.flush()
    return wanted


def approver_roles(session: Session, clinic_id: int) -> tuple[str, ...]:
    """The clinic's approver roles (``("lead",)`` unless :func:`set_approvers` set others); no clinic check."""
    query = select(col(CrisisApprover.role)).where(col(CrisisApprover.clinic_id) == clinic_id)
    found = tuple(session.scalars(query.order_by(col(CrisisApprover.id))))
    return found or DEFAULT_APPROVERS


def approvers(session: Session, clinic_id: int) -> tuple[str, ...]:
    """The roles whose approval makes a statement approved (default ``("lead",)``).

    Raises:
        NotFound: no such clinic.
    """
    get_or_404(session, Clinic, clinic_id)
    return approver_roles(session, clinic_id)


@reads
def readiness(session: Session, clinic_id: int, *, now: datetime) -> Readiness:
    """How ready the clinic is for a crisis: six checks and ``score`` = round(100 × ok ÷ 6).

    The checks, in this order: ``"lead"`` and ``"spokesperson"`` (a member with a phone holds the role),
    ``"legal_contact"`` (a ``"legal"`` member or a ``"lawyer"`` contact), ``"playbooks"`` (a playbook with a
    holding statement for each of data_breach, medical_error, negative_publicity), ``"drill"`` (a drill declared
    in the 365 days before ``now``), ``"risks_reviewed"`` (at least one active risk, none due for review).

    Raises:
        NotFound: no such clinic.
        NaiveDatetimeError: ``now`` is naive.
    """
    when = aware(now, "now")
    get_or_404(session, Clinic, clinic_id)
    facts = session.execute(select(*_readiness_columns(clinic_id, when))).one()
    lead, spokesperson, legal, playbooks, drills, active, due = facts
    checks = [
        _check("lead", lead > 0, "a lead with a phone", "no lead with a phone: crm.crisis.set_member"),
        _check(
            "spokesperson",
            spokesperson > 0,
            "a spokesperson with a phone",
            "no spokesperson with a phone: crm.crisis.set_member",
        ),
        _check("legal_contact", bool(legal), "legal advice on call", "no legal member and no lawyer contact"),
        _check(
            "playbooks",
            playbooks == len(READINESS_PLAYBOOKS),
            "holding statements for " + ", ".join(READINESS_PLAYBOOKS),
            f"{playbooks} of {len(READINESS_PLAYBOOKS)} playbooks ({', '.join(READINESS_PLAYBOOKS)})",
        ),
        _check("drill", drills > 0, "a drill in the last 365 days", "no drill in the last 365 days"),
        _check(
            "risks_reviewed",
            active > 0 and due == 0,
            f"{active} active risks, none due for review",
            "no active risk in the register" if active == 0 else f"{due} of {active} risks due for review",
        ),
    ]
    return readiness_score(checks)


def _check(name: str, ok: bool, good: str, bad: str) -> Check:
    return Check(name=name, ok=ok, detail=good if ok else bad)


def _readiness_columns(clinic_id: int, now: datetime) -> list[Any]:
    """Scalar sub-queries giving every fact of the six checks in one statement."""
    m, r = TeamMember, Risk

    def with_phone(role: str) -> Any:
        return (
            select(func.count())
            .select_from(m)
            .where(col(m.clinic_id) == clinic_id, col(m.phone).is_not(None), col(m.role) == role)
            .scalar_subquery()
        )

    legal = select(
        exists().where(col(m.clinic_id) == clinic_id, col(m.role) == "legal")
        | exists().where(col(Contact.clinic_id) == clinic_id, col(Contact.kind) == "lawyer")
    ).scalar_subquery()
    playbooks = (
        select(func.count())
        .select_from(Playbook)
        .where(col(Playbook.clinic_id) == clinic_id, col(Playbook.crisis_type).in_(READINESS_PLAYBOOKS))
        .scalar_subquery()
    )
    drills = (
        select(func.count())
        .select_from(Incident)
        .where(
            col(Incident.clinic_id) == clinic_id,
            col(Incident.drill).is_(True),
            col(Incident.declared_at) > now - DRILL_WITHIN,
            col(Incident.declared_at) <= now,
        )
        .scalar_subquery()
    )
    active = (
        select(func.count()).select_from(r).where(col(r.clinic_id) == clinic_id, col(r.status) == "active")
    ).scalar_subquery()
    due = (
        select(func.count())
        .select_from(r)
        .where(col(r.clinic_id) == clinic_id, col(r.status) == "active", col(r.next_review_at) <= now)
        .scalar_subquery()
    )
    return [with_phone("lead"), with_phone("spokesperson"), legal, playbooks, drills, active, due]
