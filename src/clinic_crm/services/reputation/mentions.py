"""Reading mentions, and replying to one without leaking a patient's identity or contact details."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.errors import ValidationError
from clinic_crm.models import SENTIMENTS, Clinic, Mention
from clinic_crm.services._common import get_or_404, optional_text, require_text
from clinic_crm.services.aggregates import check_interval
from clinic_crm.services.reputation.guard import contact_reason, names_of_clinic, squeeze
from clinic_crm.values import aware, check_choice

__all__ = ["list_mentions", "reply", "check_reply", "REPLY_MAX"]

REPLY_MAX = 4000

_MENTION = Mention.__table__  # type: ignore[attr-defined]


@reads
def list_mentions(
    session: Session,
    clinic_id: int,
    *,
    source: str | None = None,
    sentiment: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[Mention]:
    """The clinic's mentions, newest ``posted_at`` first, optionally of one source or sentiment, in ``[since, until)``.

    Raises:
        NotFound: no such clinic.
        ValidationError: an unknown ``sentiment`` (``"negative" | "neutral" | "positive"``), ``until < since``.
        NaiveDatetimeError: ``since``/``until`` without a time zone.
    """
    get_or_404(session, Clinic, clinic_id)
    since_utc, until_utc = check_interval(since, until)
    m = _MENTION
    stmt = select(Mention).where(m.c.clinic_id == clinic_id)
    if source is not None:
        stmt = stmt.where(m.c.source == optional_text(source, "source", max_length=40))
    if sentiment is not None:
        stmt = stmt.where(m.c.sentiment == check_choice(sentiment, SENTIMENTS, "sentiment"))
    if since_utc is not None:
        stmt = stmt.where(m.c.posted_at >= since_utc)
    if until_utc is not None:
        stmt = stmt.where(m.c.posted_at < until_utc)
    return list(session.scalars(stmt.order_by(m.c.posted_at.desc(), m.c.id.desc())))


def check_reply(session: Session, clinic: Clinic, text: str) -> None:
    """Refuse (``ValidationError``, field ``"text"``) a reply with a phone number, e-mail or patient's full name.

    The message says what kind of thing was found, never the text itself.
    """
    folded = unicodedata.normalize("NFKC", text)
    reason = contact_reason(folded, clinic.region)
    if reason is None and clinic.id is not None and names_of_clinic(session, clinic.id).found_in(squeeze(text)):
        reason = "the full name of a patient of the clinic"
    if reason is not None:
        raise ValidationError(f"a public reply must not contain {reason}; nothing was stored", field="text")


def reply(session: Session, mention_id: int, *, text: str, at: datetime, by: str) -> Mention:
    """Record the clinic's public reply to a mention (``replied_at = at``); a later reply replaces it.

    The reply is refused when it contains a phone number (``phonenumbers`` with the clinic's region, or a run of
    7+ digits), an e-mail address, or the full name of any patient of the clinic (family and given name in
    either order, with or without a space, NFKC + case-insensitive).

    Returns:
        The :class:`Mention` with ``replied_at``, ``reply_text`` and ``reply_by`` set.

    Raises:
        NotFound: no such mention.
        ValidationError: a refused or blank ``text`` (field ``"text"``; nothing is stored), a blank ``by``.
        NaiveDatetimeError: ``at`` without a time zone.
    """
    when = aware(at, "at")
    body = require_text(text, "text", max_length=REPLY_MAX)
    who = require_text(by, "by", max_length=200)
    mention = get_or_404(session, Mention, mention_id, for_update=True)
    check_reply(session, get_or_404(session, Clinic, mention.clinic_id), body)
    mention.reply_text, mention.reply_by, mention.replied_at = body, who, when
    mention.updated_at = when
    session.flush()
    return mention
