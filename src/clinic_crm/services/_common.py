"""Small helpers shared by the service modules."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from clinic_crm.errors import NotFound, ValidationError
from clinic_crm.models import Base
from clinic_crm.values import aware, check_unicode, utcnow

__all__ = [
    "MAX_ID",
    "check_id",
    "check_arguments",
    "get_or_404",
    "not_found",
    "require_text",
    "optional_text",
    "claim_run_clock",
]

M = TypeVar("M", bound=Base)


#: Ids are positive and fit PostgreSQL's ``integer`` (the narrowest id column of both databases).
MAX_ID = 2**31 - 1


def check_id(value: object, field: str = "id") -> int:
    """An integer id (``bool`` is not one), else ``ValidationError`` naming ``field``.

    Raises:
        ValidationError: not an integer.
        NotFound: outside ``1 … MAX_ID``: no row can have it (and the database could not even compare it).
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"{field} must be an integer id", field=field)
    if not 1 <= value <= MAX_ID:
        raise NotFound(f"no {field.removesuffix('_ids').removesuffix('_id')} with id {value}")
    return value


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_NAMED = (*_POSITIONAL, inspect.Parameter.KEYWORD_ONLY)
#: Parameters whose text is not stored or compared in SQL: a file name may carry surrogate escapes of its bytes.
_RAW_TEXT = frozenset({"path"})


@functools.cache
def _shape(fn: Callable[..., Any]) -> tuple[tuple[str, ...], dict[str, tuple[str, bool]]]:
    """The positional parameter names of ``fn(session, …)`` (without ``session``), and its checked parameters.

    Checked: ``*_id: int`` (an id), ``*_ids`` (ids), ``bool`` (a flag); with whether ``None`` is the default.
    """
    parameters = [p for p in list(inspect.signature(fn).parameters.values())[1:] if p.kind in _NAMED]
    positional = tuple(p.name for p in parameters if p.kind in _POSITIONAL)
    checks: dict[str, tuple[str, bool]] = {}
    for parameter in parameters:
        annotation = str(parameter.annotation)
        if parameter.name.endswith("_id") and annotation in ("int", "int | None"):
            checks[parameter.name] = ("id", parameter.default is None)
        elif parameter.name.endswith("_ids"):
            checks[parameter.name] = ("ids", parameter.default is None)
        elif annotation in ("bool", "bool | None"):
            checks[parameter.name] = ("bool", parameter.default is None)
    return positional, checks


def check_arguments(fn: Callable[..., Any], args: Sequence[object], kwargs: Mapping[str, object]) -> None:
    """Check what a public call passes to the service function ``fn(session, …)``: the one edge check.

    * every text argument is valid Unicode a database stores (:func:`~clinic_crm.values.check_unicode`: no lone
      surrogate, no NUL), ``.field`` naming the parameter;
    * every ``*_id`` parameter takes an integer id (:func:`check_id`: ``ValidationError`` for another type,
      ``NotFound`` outside ``1 … MAX_ID``), every ``*_ids`` list or tuple holds such ids;
    * every ``bool`` parameter takes a ``bool``.

    ``None`` passes where it is the default.  Nested values (rows, answers, payloads) are the service's to check.
    """
    positional, checks = _shape(fn)
    for index, value in enumerate(args):
        _check_argument(positional[index] if index < len(positional) else "argument", value, checks)
    for name, value in kwargs.items():
        _check_argument(name, value, checks)


def _check_argument(name: str, value: object, checks: Mapping[str, tuple[str, bool]]) -> None:
    field = name if name.isascii() and name.isidentifier() else "fields"  # never echo a caller's odd key
    if isinstance(value, str) and name not in _RAW_TEXT:
        check_unicode(value, field)
    check = checks.get(name)
    if check is None or (value is None and check[1]):
        return
    kind = check[0]
    if kind == "id":
        check_id(value, name)
    elif kind == "bool":
        if not isinstance(value, bool):
            raise ValidationError(f"{name} must be True or False", field=name)
    elif isinstance(value, (str, bytes, bytearray, Mapping)):
        raise ValidationError(f"{name} must be an iterable of integer ids", field=name)
    elif isinstance(value, (list, tuple, set, frozenset)):
        for item in value:
            check_id(item, name)


def get_or_404(session: Session, model: type[M], ident: object, *, for_update: bool = False) -> M:
    """Load a row by primary key or raise ``NotFound`` naming the model (never the row's data).

    An id outside ``1 … MAX_ID`` cannot exist: ``NotFound`` without asking the database.
    """
    if isinstance(ident, bool) or not isinstance(ident, int):
        raise ValidationError(f"{model.__name__.lower()} id must be an integer", field="id")
    if not 1 <= ident <= MAX_ID:
        raise not_found(model, ident)
    row = session.get(model, ident, with_for_update=for_update or None)
    if row is None:
        raise not_found(model, ident)
    return row


def not_found(model: type[object], ident: int) -> NotFound:
    """The ``NotFound`` for a missing row of ``model``: names the model and the id, never the row's data."""
    return NotFound(f"no {model.__name__.lower()} with id {ident}")


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
