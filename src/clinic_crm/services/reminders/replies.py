"""Inbound SMS replies: an opt-out keyword withdraws SMS consent; anything else is kept for staff."""

from __future__ import annotations

import unicodedata
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.errors import ValidationError
from clinic_crm.models import PURPOSES, Clinic, InboundReply
from clinic_crm.services._common import get_or_404
from clinic_crm.services.consent import record_consents
from clinic_crm.services.feedback.cases import record_reply
from clinic_crm.services.reminders._tables import t_inbound_reply, t_patient
from clinic_crm.values import aware, normalize_phone

__all__ = ["OPT_OUT_KEYWORDS", "is_opt_out", "handle_reply", "list_replies"]


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


def handle_reply(session: Session, clinic_id: int, *, phone: str, text: str, at: datetime) -> bool:
    """Record an SMS reply; an opt-out keyword withdraws SMS consent (every purpose) of every patient on that number.

    Any other (non-blank) reply is also recorded as a feedback case (``crm.feedback``): kind ``"question"``,
    channel ``"sms"``, received ``at``, its patient set when exactly one patient of the clinic has that number.

    Returns:
        ``True`` for an opt-out keyword (``STOP``, ``ＳＴＯＰ``, ``退訂``…); ``False`` for anything else
        (``CANCEL`` included), which is kept for staff (``replies``).

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


@reads
def list_replies(session: Session, clinic_id: int, *, opt_out: bool | None = None) -> list[InboundReply]:
    """The clinic's inbound replies, newest first; ``opt_out=False`` gives the ones staff should read.

    Raises:
        NotFound: no such clinic.
    """
    get_or_404(session, Clinic, clinic_id)
    query = select(InboundReply).where(t_inbound_reply.c.clinic_id == clinic_id)
    if opt_out is not None:
        query = query.where(t_inbound_reply.c.opt_out.is_(opt_out))
    return list(session.scalars(query.order_by(t_inbound_reply.c.received_at.desc(), t_inbound_reply.c.id.desc())))
