"""A clinic's own message texts and its yearly fixed-date greetings."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic_crm.errors import ValidationError
from clinic_crm.messaging.render import check_template_text
from clinic_crm.models import CHANNELS, Clinic, Greeting, MessageTemplate
from clinic_crm.services._common import get_or_404, require_text
from clinic_crm.services.reminders._tables import t_message_template
from clinic_crm.values import check_choice, check_locale

__all__ = ["set_template", "add_greeting"]


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
    """Use the clinic's own text for a reminder kind, channel and locale (replacing the one set before).

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
    """Add a yearly fixed-date greeting (marketing) to every patient of the clinic.

    It is planned on ``month``/``day`` at ``local_time`` in each patient's zone, never before ``starts_on``.

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
