"""The clinic's watch list (keywords, negative terms) and the matchers built from it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.errors import ValidationError
from clinic_crm.models import Clinic, ReputationWatch
from clinic_crm.services._common import get_or_404
from clinic_crm.services.reputation.sentiment import TermMatcher
from clinic_crm.services.reputation.terms import DEFAULT_NEGATIVE_TERMS
from clinic_crm.values import clean_text, utc

__all__ = ["WatchList", "watch", "watch_list", "matchers"]

TERM_MAX = 200
TERMS_MAX = 1000


@dataclass(frozen=True, slots=True)
class WatchList:
    """A clinic's watch list as it applies now.

    Attributes:
        clinic_id: the clinic.
        keywords: terms whose appearance in a newly ingested mention opens a keyword alert.
        negative_terms: terms that make a mention without a rating negative.
        default_terms: True while the clinic uses the shipped negative-term list.
    """

    clinic_id: int
    keywords: tuple[str, ...]
    negative_terms: tuple[str, ...]
    default_terms: bool


def _terms(value: object, field: str) -> list[str]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ValidationError(f"{field} must be a list of strings (not a single string)", field=field)
    terms = [clean_text(term, field, max_length=TERM_MAX) for term in value]
    if len(terms) > TERMS_MAX:
        raise ValidationError(f"{field} may hold at most {TERMS_MAX} terms", field=field)
    return list(dict.fromkeys(terms))


@reads
def watch_list(session: Session, clinic_id: int) -> WatchList:
    """The clinic's watch list (no keywords and the shipped negative terms until ``watch`` sets them).

    Raises:
        NotFound: no such clinic.
    """
    get_or_404(session, Clinic, clinic_id)
    row = session.get(ReputationWatch, clinic_id)
    keywords = tuple(row.keywords) if row is not None else ()
    own = row.negative_terms if row is not None else None
    return WatchList(clinic_id, keywords, tuple(own) if own is not None else DEFAULT_NEGATIVE_TERMS, own is None)


def watch(
    session: Session,
    clinic_id: int,
    *,
    keywords: Iterable[str] = (),
    negative_terms: Iterable[str] | None = None,
    now: datetime | None = None,
) -> WatchList:
    """Replace the clinic's keywords (and its negative terms, when given); applies to mentions ingested afterwards.

    Matching is NFKC + case-insensitive.  A mention containing a keyword opens one keyword alert when it is
    first ingested.

    Args:
        clinic_id: the clinic.
        keywords: the clinic's name, its doctors' names, … (each a non-empty string of at most 200 characters).
        negative_terms: the terms that make a mention without a rating negative; ``None`` leaves the clinic's
            terms as they are (the shipped English and Chinese list until the clinic gives its own); ``[]``
            means none.
        now: when the list changed (default: now).

    Returns:
        The :class:`WatchList` now in force.

    Raises:
        NotFound: no such clinic.
        ValidationError: a list that is a single string or holds a blank or too long term (field ``"keywords"``
            or ``"negative_terms"``).
    """
    get_or_404(session, Clinic, clinic_id)
    stamp = utc(now)
    words = _terms(keywords, "keywords")
    negatives = None if negative_terms is None else _terms(negative_terms, "negative_terms")
    row = session.get(ReputationWatch, clinic_id, with_for_update=True)
    if row is None:
        row = ReputationWatch(clinic_id=clinic_id, keywords=words, negative_terms=negatives, updated_at=stamp)
        session.add(row)
    else:
        row.keywords = words
        if negatives is not None:
            row.negative_terms = negatives
        row.updated_at = stamp
    session.flush()
    return watch_list(session, clinic_id)


def matchers(session: Session, clinic_id: int) -> tuple[TermMatcher, TermMatcher]:
    """``(keywords, negative terms)`` of the clinic as matchers."""
    current = watch_list(session, clinic_id)
    return TermMatcher(current.keywords), TermMatcher(current.negative_terms)
