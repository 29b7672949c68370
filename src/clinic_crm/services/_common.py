"""Small helpers shared by the service modules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.orm import Session

from clinic_crm.errors import NotFound, ValidationError
from clinic_crm.models import Base
from clinic_crm.values import aware, check_unicode, utcnow

__all__ = ["MAX_ID", "check_id", "get_or_404", "require_text", "optional_text", "claim_run_clock"]

M = TypeVar("M", bound=Base)


#: Ids are positive and fit PostgreSQL's ``integer`` (the narrowest id column of both databases).
MAX_ID = 2**31 - 1


def check_id(value: object, field: str = "id") -> int:
    """An integer id (``bool`` is not one), else ``ValidationError`` naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer id", field=field)
    return value


def get_or_404(session: Session, model: type[M], ident: object, *, for_update: bool = False) -> M:
    """Load a row by primary key or raise ``NotFound`` naming the model (never the row's data).

    An id outside ``1 … MAX_ID`` cannot exist: ``NotFound`` without asking the database.
    """
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise ValidationError(f"{model.__name__.lower()} id must be an integer", field="id")
    if not 1 <= ident <= MAX_ID:
        raise NotFound(f"no {model.__name__.lower()} with id {ident}")
    row = session.get(model, ident, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"no {model.__name__.lower()} with id {ident}")
    return row


def require_text(value: object, field: str, *, max_length: int = 200) -> str:
    """A non-empty, trimmed string of at most ``max_length`` characters, else ``ValidationError``."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    value = check_unicode(value.strip(), field)
    if len(value) > max_length:
        raise ValidationError(f"{field} must be at most {max_length} characters", field=field)
    return value


def optional_text(value: object, field: str, *, max_length: int = 200) -> str | None:
    """``None`` or a non-empty trimmed string (see :func:`require_text`)."""
    if value is None:
        return None
    return require_text(value, field, max_length=max_length)


def claim_run_clock(
    now: datetime | None, *, limit: object, lease: object, batch_size: object
) -> Callable[[], datetime]:
    """Check the arguments every claim loop takes (``dispatch``, ``publish_due``); return its clock.

    The clock returns ``now`` when one was given, else reads the current time afresh at every step.

    Raises:
        ValidationError: ``limit`` not ``None`` or a non-negative integer, ``lease`` not a positive timedelta,
            ``batch_size`` not a positive integer; ``NaiveDatetimeError`` for a naive ``now``.
    """
    fixed = None if now is None else aware(now, "now")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValidationError("limit must be None or a non-negative integer", field="limit")
    if not isinstance(lease, timedelta) or lease <= timedelta(0):
        raise ValidationError("lease must be a positive timedelta", field="lease")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValidationError("batch_size must be a positive integer", field="batch_size")
    if fixed is not None:
        return lambda: fixed
    return utcnow
