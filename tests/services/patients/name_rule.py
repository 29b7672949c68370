"""The rule of ``find(name=…)`` in plain Python, shared by the name-search tests (trigram and short-gram)."""

from __future__ import annotations

from collections.abc import Callable

from clinic_crm import ClinicCRM
from clinic_crm.models import Clinic


def found_ids(crm: ClinicCRM, clinic: Clinic, name: str) -> list[int]:
    """The ids ``find(clinic, name=name)`` returns, in its order."""
    return [int(p.id) for p in crm.patients.find(clinic.id, name=name) if p.id is not None]


def matches(family: str, given_name: str, query: str, lower: Callable[[str], str] = str.lower) -> bool:
    """Whether the rule accepts the patient: the query inside ``family+given``, ``given family`` or ``family given``,
    or each of its words inside either name; the names lowered by ``lower`` (as the database lowers them)."""
    f, g, q = lower(family), lower(given_name), query.lower()
    return q in f + g or q in f"{g} {f}" or q in f"{f} {g}" or all(word in f or word in g for word in q.split())
