"""Candidate duplicate patients: same folded name AND a shared birth date or e-mail.

Pure rules (:func:`name_key`, :func:`pair_score`) plus one set-based pass over a clinic's patients:
one query reads every live patient (not erased, not merged), names are folded once each, and rows are
grouped with dicts by ``(name, birth date)`` and ``(name, e-mail)``; pairs come only from inside a group,
never from comparing every patient with every other.

Scores (highest first):

============================================  =====
same name + birth date + e-mail                1.0
same name + birth date                         0.9
same name + e-mail (a birth date missing)      0.8
each of the above with the same phone too     +0.05 (at most 1.0)
============================================  =====

A shared phone alone never pairs (families share one); two different birth dates never pair, even with
the same e-mail (a parent's address on a child's record).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.orm import Session

from clinic_crm.models import Clinic
from clinic_crm.models.patients import is_cjk
from clinic_crm.services._common import get_or_404

__all__ = ["DuplicatePair", "find_duplicates", "fold", "name_key", "pair_score"]


@dataclass(frozen=True, slots=True)
class DuplicatePair:
    """Two records that look like the same patient.

    Attributes:
        patient_id: the lower id.
        other_id: the higher id.
        score: 0–1, how sure (see the module's table).
        reasons: what they share, among ``"name"``, ``"birth_date"``, ``"email"``, ``"phone"``.
    """

    patient_id: int
    other_id: int
    score: float
    reasons: tuple[str, ...]


def fold(text: str) -> str:
    """``text`` compared loosely: NFKC (full-width → ASCII), case folded, accents stripped, spacing normalised.

    CJK text loses every space (``王 小明`` = ``王小明``); other scripts keep single spaces between words.
    """
    folded = unicodedata.normalize("NFKC", text).casefold()
    stripped = "".join(ch for ch in unicodedata.normalize("NFD", folded) if not unicodedata.combining(ch))
    stripped = unicodedata.normalize("NFC", stripped)
    if is_cjk(stripped):
        return "".join(stripped.split())
    return " ".join(stripped.split())


def name_key(family_name: str, given_name: str) -> str:
    """The key two records of the same person share: folded family and given names.

    CJK names are compared as one string without spaces (``王`` + ``小明`` = ``王小`` + ``明``);
    others keep family and given apart.
    """
    family, given = fold(family_name), fold(given_name)
    if is_cjk(family) or is_cjk(given):
        return family + given
    return f"{family}\x1f{given}"


def pair_score(
    same_birth_date: bool, same_email: bool, same_phone: bool, different_birth_dates: bool
) -> tuple[float, tuple[str, ...]] | None:
    """Score two records with the same name key, or ``None`` when they must not pair.

    Args:
        same_birth_date: both have a birth date and it is the same.
        same_email: both have an e-mail and it is the same.
        same_phone: both have a phone and it is the same.
        different_birth_dates: both have a birth date and they differ.

    Returns:
        ``(score, reasons)`` or ``None``.
    """
    if different_birth_dates or not (same_birth_date or same_email):
        return None
    if same_birth_date and same_email:
        score = 1.0
    elif same_birth_date:
        score = 0.9
    else:
        score = 0.8
    reasons = ["name"]
    if same_birth_date:
        reasons.append("birth_date")
    if same_email:
        reasons.append("email")
    if same_phone:
        reasons.append("phone")
        score = min(1.0, score + 0.05)
    return round(score, 2), tuple(reasons)


_CANDIDATES = text(
    "SELECT id, family_name, given_name, birth_date, email, phone FROM patient"
    " WHERE clinic_id = :clinic_id AND erased_at IS NULL AND merged_into_id IS NULL ORDER BY id"
)


def find_duplicates(session: Session, clinic_id: int) -> list[DuplicatePair]:
    """Pairs of the clinic's patients that look like one person: same folded name and a shared birth date or e-mail.

    Names compare after NFKC, case and accent folding and spacing (CJK names without spaces); a shared
    phone alone never pairs; different birth dates never pair.  Erased and merged records are left out.

    Args:
        clinic_id: the clinic.

    Returns:
        ``DuplicatePair``s, highest score first (then by ids), each pair once (``patient_id < other_id``).

    Raises:
        NotFound: no such clinic.
    """
    get_or_404(session, Clinic, clinic_id)
    # raw column values (no per-value type processing): only equality is compared, and a birth date
    # compares equal to itself whether it arrives as ISO text (SQLite) or as a date (PostgreSQL)
    rows = session.execute(_CANDIDATES, {"clinic_id": clinic_id}).all()
    by_birth: dict[tuple[str, object], list[int]] = {}
    by_email: dict[tuple[str, str], list[int]] = {}
    info: dict[int, tuple[object, str | None, str | None]] = {}
    keys: dict[tuple[str, str], str] = {}  # many patients share a name: fold each name once
    for ident, family, given, born, email, phone in rows:
        patient_id = cast(int, ident)
        key = keys.get((family, given))
        if key is None:
            key = keys[(family, given)] = name_key(family, given)
        mail = email.lower() if email else None
        info[patient_id] = (born, mail, phone)
        if born is not None:
            by_birth.setdefault((key, born), []).append(patient_id)
        if mail is not None:
            by_email.setdefault((key, mail), []).append(patient_id)
    candidates: set[tuple[int, int]] = set()
    for group in (*by_birth.values(), *by_email.values()):
        if len(group) > 1:
            candidates.update((a, b) for i, a in enumerate(group) for b in group[i + 1 :])
    pairs: list[DuplicatePair] = []
    for a, b in candidates:
        born_a, mail_a, phone_a = info[a]
        born_b, mail_b, phone_b = info[b]
        scored = pair_score(
            same_birth_date=born_a is not None and born_a == born_b,
            same_email=mail_a is not None and mail_a == mail_b,
            same_phone=phone_a is not None and phone_a == phone_b,
            different_birth_dates=born_a is not None and born_b is not None and born_a != born_b,
        )
        if scored is not None:
            pairs.append(DuplicatePair(a, b, *scored))
    pairs.sort(key=_order)
    return pairs


def _order(pair: DuplicatePair) -> Any:
    return (-pair.score, pair.patient_id, pair.other_id)
