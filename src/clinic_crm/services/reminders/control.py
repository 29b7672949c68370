"""Clinic-level control of reminders: pause/resume, inbound replies (opt-out), templates, greetings, listing."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any, cast

from sqlalchemy import func, select, update
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.messaging.render import check_template_text
from clinic_crm.models import (
    CHANNELS,
    PURPOSES,
    Clinic,
    ClinicPause,
    Greeting,
    InboundReply,
    MessageTemplate,
    Reminder,
)
from clinic_crm.models.reminders import REMINDER_STATUSES
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.consent import record_consents
from clinic_crm.services.feedback.cases import record_reply
from clinic_crm.services.reminders._tables import (
    t_clinic_pause,
    t_inbound_reply,
    t_message_template,
    t_patient,
    t_reminder,
)
from clinic_crm.values import aware, check_choice, check_locale, normalize_phone, utc

__all__ = [
    "OPT_OUT_KEYWORDS",
    "is_opt_out",
    "check_purposes",
    "pause_clinic",
    "pause_for_incident",
    "lift_incident_pauses",
    "resume_clinic",
    "pause_history",
    "handle_reply",
    "list_replies",
    "set_template",
    "add_greeting",
    "list_reminders",
    "cancel_reminder",
]


def _fold(text: str) -> str:
    """NFKC (full-width → ASCII), case-folded, trimmed, inner whitespace collapsed to one space."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


#: The replies that withdraw SMS consent (compared after NFKC, casefold and whitespace collapsing).
OPT_OUT_KEYWORDS = frozenset(
    _fold(word) for word in ("STOP", "STOPALL", "UNSUBSCRIBE", "QUIT", "END", "REVOKE", "OPT OUT", "退訂", "取消訂閱")
)


def is_opt_out(text: str) -> bool:
    """Whether a reply is exactly an opt-out keyword (trimmed, case- and width-insensitive)."""
    return _fold(text) in OPT_OUT_KEYWORDS


# --- pause / resume --------------------------------------------------------------------------------------------


def check_purposes(purposes: object, *, allow_empty: bool = False, field: str = "purposes") -> tuple[str, ...]:
    """The distinct purposes of ``purposes`` (a purpose or a list of ``"care"`` / ``"marketing"``), in order.

    Raises:
        ValidationError: not a list of known purposes, or empty (unless ``allow_empty``).
    """
    if isinstance(purposes, str):
        purposes = (purposes,)
    if not isinstance(purposes, Iterable):
        raise ValidationError(f"{field} must be a list of 'care' / 'marketing'", field=field)
    found = tuple(dict.fromkeys(check_choice(p, PURPOSES, field) for p in purposes))
    if not found and not allow_empty:
        raise ValidationError(f"{field} must name at least one purpose", field=field)
    return found


def pause_clinic(
    session: Session,
    clinic_id: int,
    *,
    purposes: Iterable[str] = ("marketing",),
    reason: str,
    at: datetime | None = None,
) -> list[ClinicPause]:
    """Hold a clinic's messages of some purposes until :func:`resume_clinic`; return the active manual pauses.

    This is the manual pause; an incident's pauses are its own (``crm.incidents.declare``/``close``) and
    neither call touches the other's.  A purpose that is already paused manually keeps its original row.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown purpose, empty reason.
    """
    wanted = check_purposes(purposes)
    reason = require_text(reason, "reason", max_length=500)
    when = utc(at, "at")
    get_or_404(session, Clinic, clinic_id, for_update=True)
    active = {p.purpose: p for p in _active_pauses(session, clinic_id, manual=True)}
    for purpose in wanted:
        if purpose not in active:
            pause = ClinicPause(clinic_id=clinic_id, purpose=purpose, reason=reason, paused_at=when)
            session.add(pause)
            active[purpose] = pause
    session.flush()
    return sorted(active.values(), key=lambda p: p.purpose)


def pause_for_incident(
    session: Session, clinic_id: int, *, purposes: Iterable[str], incident_id: int, at: datetime
) -> list[ClinicPause]:
    """Add one pause row per purpose owned by an incident (lifted by :func:`lift_incident_pauses`).

    The caller validated ``purposes`` (:func:`check_purposes`) and holds the clinic.
    """
    rows = [
        ClinicPause(
            clinic_id=clinic_id, purpose=p, reason=f"incident {incident_id}", paused_at=at, incident_id=incident_id
        )
        for p in purposes
    ]
    session.add_all(rows)
    session.flush()
    return rows


def lift_incident_pauses(session: Session, clinic_id: int, *, incident_id: int, at: datetime) -> list[str]:
    """End the pauses an incident made; return the purposes no other pause holds any more (sending again).

    A purpose stays paused while another open incident's row or a manual pause holds it.
    """
    rows = list(
        session.scalars(
            select(ClinicPause).where(
                t_clinic_pause.c.incident_id == incident_id, t_clinic_pause.c.resumed_at.is_(None)
            )
        )
    )
    return _end_pauses(session, clinic_id, rows, at)[0]


def _active_pauses(session: Session, clinic_id: int, *, manual: bool = False) -> list[ClinicPause]:
    query = select(ClinicPause).where(t_clinic_pause.c.clinic_id == clinic_id, t_clinic_pause.c.resumed_at.is_(None))
    if manual:
        query = query.where(t_clinic_pause.c.incident_id.is_(None))
    return list(session.scalars(query))


def _end_pauses(session: Session, clinic_id: int, rows: list[ClinicPause], when: datetime) -> tuple[list[str], int]:
    """Resume ``rows``; held reminders of the purposes no active pause holds any more become due at once.

    Returns:
        Those purposes, and how many held reminders were made due again.
    """
    for pause in rows:
        pause.resumed_at = when
    session.flush()
    still_held = {p.purpose for p in _active_pauses(session, clinic_id)}
    freed = sorted({p.purpose for p in rows} - still_held)
    if not freed:
        return [], 0
    # A held reminder is pending with ready_at pushed past its due/next attempt: make it due again.
    natural = func.coalesce(t_reminder.c.next_attempt_at, t_reminder.c.due_at)
    result = session.execute(
        update(t_reminder)
        .where(
            t_reminder.c.clinic_id == clinic_id,
            t_reminder.c.purpose.in_(freed),
            t_reminder.c.status == "pending",
            t_reminder.c.ready_at > natural,
        )
        .values(ready_at=natural),
        execution_options={"synchronize_session": False},
    )
    return freed, int(cast(CursorResult[Any], result).rowcount or 0)


def resume_clinic(
    session: Session, clinic_id: int, *, purposes: Iterable[str] | None = None, at: datetime | None = None
) -> int:
    """End a clinic's manual pauses (all, or those of ``purposes``); held reminders become due at once.

    An open incident's pauses are not touched: a purpose it holds stays paused until it closes.

    Returns:
        How many held reminders were made due again.

    Raises:
        NotFound: no such clinic.
    """
    wanted = PURPOSES if purposes is None else check_purposes(purposes)
    when = utc(at, "at")
    get_or_404(session, Clinic, clinic_id, for_update=True)
    resumed = [p for p in _active_pauses(session, clinic_id, manual=True) if p.purpose in wanted]
    if not resumed:
        return 0
    return _end_pauses(session, clinic_id, resumed, when)[1]


def pause_history(session: Session, clinic_id: int) -> list[ClinicPause]:
    """Every pause of the clinic, newest first (``resumed_at`` is ``None`` while active)."""
    get_or_404(session, Clinic, clinic_id)
    query = select(ClinicPause).where(t_clinic_pause.c.clinic_id == clinic_id)
    return list(session.scalars(query.order_by(t_clinic_pause.c.paused_at.desc(), t_clinic_pause.c.id.desc())))


# --- inbound replies -------------------------------------------------------------------------------------------


def handle_reply(session: Session, clinic_id: int, *, phone: str, text: str, at: datetime) -> bool:
    """Record an SMS reply; an opt-out keyword withdraws SMS consent (every purpose) of every patient on that number.

    Any other (non-blank) reply is also recorded as a feedback case (``crm.feedback``): kind ``"question"``,
    channel ``"sms"``, received ``at``, its patient set when exactly one patient of the clinic has that number.

    Returns:
        ``True`` when the text was an opt-out keyword.

    Raises:
        NotFound: no such clinic.
        InvalidPhoneNumber: ``phone`` does not parse with the clinic's region.
        ValidationError, NaiveDatetimeError: ``text`` not a string, ``at`` naive.
    """
    clinic = get_or_404(session, Clinic, clinic_id)
    if not isinstance(text, str):
        raise ValidationError("text must be a string", field="text")
    when = aware(at, "at")
    e164 = normalize_phone(phone, clinic.region)
    opt_out = is_opt_out(text)
    session.add(
        InboundReply(
            clinic_id=clinic_id, phone=e164, text=text.replace("\x00", "")[:2000], opt_out=opt_out, received_at=when
        )
    )
    if opt_out:
        patient_ids = session.scalars(
            select(t_patient.c.id)
            .where(t_patient.c.clinic_id == clinic_id, t_patient.c.phone == e164)
            .order_by(t_patient.c.id)
        ).all()
        record_consents(session, patient_ids, ("sms",), PURPOSES, granted=False, source="sms reply", at=when)
    else:
        record_reply(session, clinic, phone=e164, text=text, at=when)
    session.flush()
    return opt_out


def list_replies(session: Session, clinic_id: int, *, opt_out: bool | None = None) -> list[InboundReply]:
    """The clinic's inbound replies, newest first; ``opt_out=False`` gives the ones staff should read."""
    get_or_404(session, Clinic, clinic_id)
    query = select(InboundReply).where(t_inbound_reply.c.clinic_id == clinic_id)
    if opt_out is not None:
        query = query.where(t_inbound_reply.c.opt_out.is_(opt_out))
    return list(session.scalars(query.order_by(t_inbound_reply.c.received_at.desc(), t_inbound_reply.c.id.desc())))


# --- templates and greetings -----------------------------------------------------------------------------------


def set_template(
    session: Session,
    clinic_id: int,
    *,
    kind: str,
    channel: str,
    locale: str,
    body: str,
    subject: str | None = None,
) -> MessageTemplate:
    """Set (or replace) a clinic's own text for a reminder kind, channel and locale.

    ``body``/``subject`` are ``str.format`` text using only ``{name}``, ``{clinic}``, ``{date}``,
    ``{time}``, ``{url}``, ``{survey}``, ``{opt_out}``.

    Raises:
        NotFound: no such clinic.
        ValidationError: unknown field in the text, bad channel or locale, subject on SMS.
    """
    get_or_404(session, Clinic, clinic_id)
    kind = require_text(kind, "kind", max_length=100)
    channel = check_choice(channel, CHANNELS, "channel")
    locale = check_locale(locale)
    body = check_template_text(body, "body")
    if subject is not None:
        if channel != "email":
            raise ValidationError("subject is only used for e-mail templates", field="subject")
        subject = check_template_text(subject, "subject", max_length=300)
    existing = session.scalars(
        select(MessageTemplate).where(
            t_message_template.c.clinic_id == clinic_id,
            t_message_template.c.kind == kind,
            t_message_template.c.channel == channel,
            t_message_template.c.locale == locale,
        )
    ).first()
    if existing is None:
        existing = MessageTemplate(
            clinic_id=clinic_id, kind=kind, channel=channel, locale=locale, body=body, subject=subject
        )
        session.add(existing)
    else:
        existing.body, existing.subject = body, subject
    session.flush()
    return existing


def add_greeting(
    session: Session,
    clinic_id: int,
    *,
    kind: str,
    month: int,
    day: int,
    local_time: time = time(10),
    starts_on: date | None = None,
) -> Greeting:
    """Add a yearly fixed-date greeting (marketing) on ``month``/``day`` at ``local_time`` in each patient's zone.

    Raises:
        NotFound: no such clinic.
        ValidationError: a month/day that no year has, a ``local_time`` that is not a naive ``time``.
    """
    get_or_404(session, Clinic, clinic_id)
    kind = require_text(kind, "kind", max_length=100)
    for value, name in ((month, "month"), (day, "day")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError(f"{name} must be an integer", field=name)
    try:
        date(2024, month, day)  # a leap year: 29 February is allowed
    except ValueError as exc:
        raise ValidationError("month/day is not a calendar date", field="day") from exc
    if not isinstance(local_time, time) or local_time.tzinfo is not None:
        raise ValidationError("local_time must be a datetime.time without tzinfo", field="local_time")
    if starts_on is not None and (not isinstance(starts_on, date) or isinstance(starts_on, datetime)):
        raise ValidationError("starts_on must be a date", field="starts_on")
    greeting = Greeting(
        clinic_id=clinic_id,
        kind=kind,
        month=month,
        day=day,
        local_time_minutes=local_time.hour * 60 + local_time.minute,
        active=True,
        starts_on=starts_on,
    )
    session.add(greeting)
    session.flush()
    return greeting


# --- listing and cancelling ------------------------------------------------------------------------------------


def list_reminders(
    session: Session,
    *,
    clinic_id: int | None = None,
    patient_id: int | None = None,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
) -> list[Reminder]:
    """Reminders matching every filter given, oldest due first (at most ``limit``)."""
    query = select(Reminder)
    if clinic_id is not None:
        query = query.where(t_reminder.c.clinic_id == clinic_id)
    if patient_id is not None:
        query = query.where(t_reminder.c.patient_id == patient_id)
    if status is not None:
        query = query.where(t_reminder.c.status == check_choice(status, REMINDER_STATUSES, "status"))
    if kind is not None:
        query = query.where(t_reminder.c.kind == kind)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit must be a positive integer", field="limit")
    return list(session.scalars(query.order_by(t_reminder.c.due_at, t_reminder.c.id).limit(limit)))


def cancel_reminder(session: Session, reminder_id: int) -> Reminder:
    """Cancel a pending reminder.

    Raises:
        NotFound: no such reminder.
        InvalidTransition: it is not pending (being sent, or already final).
    """
    reminder = get_or_404(session, Reminder, reminder_id, for_update=True)
    if reminder.status != "pending":
        raise InvalidTransition(
            f"reminder {reminder_id} is {reminder.status}; only pending reminders can be cancelled",
            current=reminder.status,
            requested="cancelled",
        )
    reminder.status = "cancelled"
    session.flush()
    return reminder
