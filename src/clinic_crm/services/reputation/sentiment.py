"""Pure rules of mentions: text folding, term matching and sentiment (no database)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["fold", "TermMatcher", "sentiment_of"]


def fold(text: str) -> str:
    """``text`` in the form every reputation match compares: NFKC, then ``casefold`` (full-width → ASCII, ß → ss)."""
    return unicodedata.normalize("NFKC", text).casefold()


class TermMatcher:
    """Finds which of a list of terms occur in a text, after :func:`fold` on both sides (one regex scan)."""

    __slots__ = ("terms", "_pattern", "_by_folded")

    def __init__(self, terms: Iterable[str]) -> None:
        self.terms = tuple(terms)
        self._by_folded: dict[str, str] = {}
        for term in self.terms:
            folded = fold(term).strip()
            if folded:
                self._by_folded.setdefault(folded, term)
        # longest first: the alternation reports the longest term at a position
        alternatives = sorted(self._by_folded, key=len, reverse=True)
        self._pattern = re.compile("|".join(map(re.escape, alternatives))) if alternatives else None

    def first(self, folded_text: str) -> str | None:
        """The first term (as given) found in ``folded_text`` (already :func:`fold`-ed), or ``None``."""
        if self._pattern is None:
            return None
        found = self._pattern.search(folded_text)
        return None if found is None else self._by_folded[found.group()]

    def __bool__(self) -> bool:
        return self._pattern is not None


def sentiment_of(rating: int | None, folded_text: str, negative: TermMatcher) -> str:
    """``"negative"`` for ratings 1–2, ``"neutral"`` for 3, ``"positive"`` for 4–5.

    Without a rating: ``"negative"`` when the (folded) text contains one of the ``negative`` terms, else
    ``"neutral"``.
    """
    if rating is not None:
        return "negative" if rating <= 2 else "neutral" if rating == 3 else "positive"
    return "negative" if negative.first(folded_text) is not None else "neutral"
