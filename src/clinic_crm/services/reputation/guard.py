"""What a public reply must never contain: a phone number, an e-mail address, a patient's full name.

Pure checks plus the per-clinic name index (no ORM objects):

* **phone numbers** — ``phonenumbers.PhoneNumberMatcher`` with the clinic's region finds numbers written the
  usual ways (local or international, valid for their region).  It misses what a person typing a reply may
  still write: a number with a wrong digit, an unusual grouping, or one of a region it does not expect.  So a
  run of 7 or more digits, with at most one space, hyphen, dot or parenthesis between digits, is refused as
  well: 7 digits is the shortest local subscriber number in Taiwan (and most of Europe and the Americas), so any
  shorter run (a price, a time, a room) passes.  Dates written ``2026-03-02`` / ``2026.03.02`` are let through.
* **e-mail addresses** — anything shaped ``local@domain.tld``.
* **full names** — every patient of the clinic, family and given name in either order, with or without one
  space between them, compared after NFKC + ``casefold`` with the reply's runs of white space made single
  spaces.  Where a name starts or ends with a letter or digit of a spaced script (Latin, Cyrillic…), the match
  must not continue a word (``Li Na`` is not found in ``Vitali Nash``); CJK names match anywhere.

The names live in a :class:`NameIndex`: a set of the folded name forms plus, per first character, the lengths
of the forms starting with it — a reply of ``n`` characters costs about ``n`` × (a few lengths) set look-ups,
whatever the number of patients.  Building the index for 100,000 patients takes a few hundred milliseconds, so
it is kept per database engine and clinic and reused while the clinic's patients' names are unchanged.  Whether
they changed is asked on every check by one statement of three index seeks, whatever the number of patients:

* the clinic's names counter (``patient_names_version``, revision 0013, :mod:`clinic_crm.services.patient_names`),
  raised in the transaction of every registration, rename, import and erasure.  It is what makes the check
  exact: it moves whatever time stamp a caller gave and in whatever order concurrent transactions commit;
* ``max(updated_at)`` of the clinic's patients and ``max(id)`` of all patients, which also see a change written
  by something other than the library's calls (a host's own SQL that stamps the row).  A patient of another
  clinic rebuilds this clinic's index too: harmless, it only costs the rebuild.

(A ``count(*)`` would also see deletions, but it reads every index entry of the clinic, and patients are never
deleted: erasure and merge keep the row.)
"""

from __future__ import annotations

import re
import threading
import unicodedata
import weakref
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from clinic_crm.models import Patient
from clinic_crm.services.patient_names import NAMES_VERSION
from clinic_crm.services.reputation.sentiment import fold

__all__ = ["NameIndex", "contact_reason", "names_of_clinic"]

_EMAIL = re.compile(r"[\w.+%-]+@[\w-]+(?:\.[\w-]+)+")
_DIGIT_RUN = re.compile(r"\d(?:[ \-.()]?\d){6,}")
_DATE = re.compile(r"\d{4}([-.])\d{1,2}\1\d{1,2}")
_SPACES = re.compile(r"\s+")


def contact_reason(text: str, region: str) -> str | None:
    """Why ``text`` (NFKC-normalised) cannot be published (``"a phone number"``, ``"an e-mail address"``) or None."""
    if _EMAIL.search(text):
        return "an e-mail address"
    for run in _DIGIT_RUN.finditer(text):
        if not _DATE.fullmatch(run.group()):
            return "a phone number"
    for _match in phonenumbers.PhoneNumberMatcher(text, region):
        return "a phone number"
    return None


def _spaced(ch: str) -> bool:
    """True for a letter or digit of a script that separates words with spaces (not CJK, kana, hangul)."""
    return ch.isalnum() and unicodedata.east_asian_width(ch) not in ("W", "F")


def squeeze(text: str) -> str:
    """``fold(text)`` with every run of white space made one space (the form replies are matched in)."""
    return _SPACES.sub(" ", fold(text))


class NameIndex:
    """The folded full-name forms of a set of patients, searchable in time independent of their number."""

    __slots__ = ("_forms", "_lengths", "size")

    def __init__(self, names: Iterable[tuple[str, str]]) -> None:
        forms: set[str] = set()
        size = 0
        for family, given in names:
            size += 1
            f, g = squeeze(family).strip(), squeeze(given).strip()
            if not f or not g:
                continue
            forms.update((f + g, g + f, f + " " + g, g + " " + f))
        lengths: dict[str, set[int]] = {}
        for form in forms:
            lengths.setdefault(form[0], set()).add(len(form))
        self._forms = frozenset(forms)
        self._lengths = {ch: tuple(sorted(ls)) for ch, ls in lengths.items()}
        self.size = size

    def found_in(self, text: str) -> bool:
        """True when ``text`` (already :func:`squeeze`-d) contains one of the names."""
        forms, lengths = self._forms, self._lengths
        n = len(text)
        for i, ch in enumerate(text):
            candidates = lengths.get(ch)
            if candidates is None:
                continue
            if i and _spaced(ch) and _spaced(text[i - 1]):
                continue  # would start inside a word
            for length in candidates:
                end = i + length
                if end > n:
                    break
                if text[i:end] in forms and not (end < n and _spaced(text[end - 1]) and _spaced(text[end])):
                    return True
        return False


_PATIENT = Patient.__table__  # type: ignore[attr-defined]
#: "Did the clinic's patients change?": two index seeks, built once (see the module's docstring).
_CHANGED = select(
    NAMES_VERSION,
    select(func.max(_PATIENT.c.updated_at)).where(_PATIENT.c.clinic_id == bindparam("clinic_id")).scalar_subquery(),
    select(func.max(_PATIENT.c.id)).scalar_subquery(),
)
_CACHE: weakref.WeakKeyDictionary[Any, dict[int, tuple[tuple[Any, ...], NameIndex]]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def names_of_clinic(session: Session, clinic_id: int) -> NameIndex:
    """The :class:`NameIndex` of every patient of the clinic, rebuilt only when their fingerprint changed."""
    p = _PATIENT
    row = session.connection().execute(_CHANGED, {"clinic_id": clinic_id}).one()  # Core: no ORM overhead
    stamp: datetime | None = row[1]
    fingerprint = (row[0], None if stamp is None else stamp.isoformat(), row[2])
    engine = session.get_bind().engine
    with _CACHE_LOCK:
        cached = _CACHE.get(engine, {}).get(clinic_id)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    rows = session.execute(select(p.c.family_name, p.c.given_name).where(p.c.clinic_id == clinic_id))
    index = NameIndex((family, given) for family, given in rows)
    with _CACHE_LOCK:
        _CACHE.setdefault(engine, {})[clinic_id] = (fingerprint, index)
    return index
