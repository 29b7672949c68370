"""Small helpers shared by the service modules."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.orm import Session

from clinic_crm.errors import NotFound, ValidationError
from clinic_crm.models import Base

M = TypeVar("M", bound=Base)


def get_or_404(session: Session, model: type[M], ident: object, *, for_update: bool = False) -> M:
    """Load a row by primary key or raise ``NotFound`` naming the model (never the row's data)."""
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise ValidationError(f"{model.__name__.lower()} id must be an integer", field="id")
    row = session.get(model, ident, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"no {model.__name__.lower()} with id {ident}")
    return row


def require_text(value: object, field: str, *, max_length: int = 200) -> str:
    """A non-empty, trimmed string of at most ``max_length`` characters, else ``ValidationError``."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    value = value.strip()
    if len(value) > max_length or "\x00" in value:
        raise ValidationError(f"{field} must be at most {max_length} characters, without NUL", field=field)
    return value


def optional_text(value: object, field: str, *, max_length: int = 200) -> str | None:
    """``None`` or a non-empty trimmed string (see :func:`require_text`)."""
    if value is None:
        return None
    return require_text(value, field, max_length=max_length)
