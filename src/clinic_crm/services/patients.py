"""Use cases of patients: register, update, look up."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol, TypedDict, Unpack

from sqlalchemy import Engine, String, Text, and_, bindparam, column, func, literal_column, or_, select, table, text
from sqlalchemy.dialects.postgresql import array
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm.api._unit import owns_read, reads
from clinic_crm.db.detached import DetachedQuery
from clinic_crm.db.name_search import (
    FTS_TABLE,
    GRAMS_INDEX,
    MIN_TRIGRAM,
    PG_DOCUMENT,
    PG_GRAMS,
    VOCAB_TABLE,
    term_range,
)
from clinic_crm.errors import DuplicatePatient, ValidationError
from clinic_crm.models import Clinic, Patient
from clinic_crm.services._common import MAX_ID, get_or_404, require_text
from clinic_crm.services.audit import record_audit
from clinic_crm.services.patient_names import names_changed
from clinic_crm.values import (
    check_locale,
    check_timezone,
    normalize_email,
    normalize_name,
    normalize_phone,
    parse_date,
    utc,
)

__all__ = [
    "PATIENT_FIELDS",
    "PatientFields",
    "clean_patient_fields",
    "register_patient",
    "get_patient",
    "current_patient",
    "update_patient",
    "find_patients",
    "ClinicRules",
    "clinic_rules",
    "patient_field_cleaners",
]


class PatientFields(TypedDict, total=False):
    """The fields ``crm.patients.update`` takes (all optional; ``None`` clears an optional one).

    For a host's type checker only (PEP 692): at run time an unknown field is still a ``ValidationError``
    naming it, and every value is validated as ``register`` validates it.
    """

    family_name: str
    given_name: str
    phone: str | None
    email: str | None
    birth_date: date | str | None
    locale: str | None
    timezone: str | None
    external_id: str | None


#: The fields a patient record has, in the order ``register`` takes them.
PATIENT_FIELDS = (
    "family_name",
    "given_name",
    "phone",
    "email",
    "birth_date",
    "locale",
    "timezone",
    "external_id",
)


def clean_patient_fields(clinic: ClinicRules, fields: dict[str, Any]) -> dict[str, Any]:
    """Validate and normalise patient fields against the clinic; return only the given keys.

    ``None`` clears an optional field; ``family_name``/``given_name`` may not be ``None``.

    Raises:
        ValidationError (or its subclasses ``InvalidPhoneNumber``, ``InvalidEmail``) naming the field.
    """
    clean: dict[str, Any] = {}
    for key, value in fields.items():
        cleaner = _CLEANERS.get(key)
        if cleaner is None:
            raise ValidationError(_not_a_field(key), field=key)
        clean[key] = cleaner(clinic, value)
    return clean


class ClinicRules(Protocol):
    """What the cleaners read of a clinic: its phone region and default locale and time zone."""

    @property
    def region(self) -> str:
        """ISO country code for local phone numbers."""

    @property
    def locale(self) -> str:
        """Default locale of new patients."""

    @property
    def timezone(self) -> str:
        """Default time zone of new patients."""


@dataclass(frozen=True, slots=True)
class _Rules:
    region: str
    locale: str
    timezone: str


def clinic_rules(clinic: Clinic) -> ClinicRules:
    """A plain snapshot of what the cleaners read of ``clinic`` (cheaper to read per row than the ORM instance)."""
    return _Rules(clinic.region, clinic.locale, clinic.timezone)


def patient_field_cleaners(names: Iterable[str]) -> list[Callable[[ClinicRules, Any], Any]]:
    """The cleaner ``clean_patient_fields`` applies to each named field, in order (for callers that loop themselves).

    ``cleaner(clinic_or_rules, value)`` returns the stored value or raises exactly what
    ``clean_patient_fields`` would raise for that field (see :func:`clinic_rules`).

    Raises:
        ValidationError: a name is not a patient field (``.field`` names it).
    """
    cleaners: list[Callable[[ClinicRules, Any], Any]] = []
    for name in names:
        cleaner = _CLEANERS.get(name)
        if cleaner is None:
            raise ValidationError(_not_a_field(name), field=name)
        cleaners.append(cleaner)
    return cleaners


def _not_a_field(key: str) -> str:
    return f"{key} is not a patient field; expected one of {', '.join(PATIENT_FIELDS)}"


def _birth_date(_clinic: ClinicRules, value: object) -> date | None:
    if value is None:
        return None
    born = parse_date(value, "birth_date")
    # date.today() costs a local-time conversion; the local date is never before the UTC date minus one
    # day, so a date before that is in the past and needs no look at today (same result, fewer calls)
    if born.year < 1880 or (born.toordinal() >= _EPOCH_ORDINAL - 1 + int(time.time() // 86400) and born > date.today()):
        raise ValidationError("birth_date must be between 1880 and today", field="birth_date")
    return born


def _external_id(_clinic: ClinicRules, value: object) -> str | None:
    if value is None:
        return None
    if type(value) is str and value and len(value) <= 100 and "\x00" not in value and value.strip() == value:
        return value  # what require_text returns for an already-trimmed string (the CSV path trims)
    return require_text(value, "external_id", max_length=100)


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


#: One cleaner per patient field: ``(clinic, value) -> stored value``; ``None`` means "clear" where allowed.
_CLEANERS: dict[str, Callable[[ClinicRules, Any], Any]] = {
    "family_name": lambda _c, v: normalize_name(v, "family_name"),
    "given_name": lambda _c, v: normalize_name(v, "given_name"),
    "phone": lambda c, v: None if v is None else normalize_phone(v, c.region),
    "email": lambda _c, v: None if v is None else normalize_email(v),
    "birth_date": _birth_date,
    "locale": lambda c, v: c.locale if v is None else check_locale(v),
    "timezone": lambda c, v: c.timezone if v is None else check_timezone(v),
    "external_id": _external_id,
}


def register_patient(
    session: Session,
    clinic_id: int,
    *,
    family_name: str,
    given_name: str,
    phone: str | None = None,
    email: str | None = None,
    birth_date: date | str | None = None,
    locale: str | None = None,
    timezone: str | None = None,
    external_id: str | None = None,
    now: datetime | None = None,
) -> Patient:
    """Register a patient of a clinic.

    The phone is parsed with the clinic's region and stored as E.164; names are
    kept as given (NFC, trimmed); locale and time zone default to the clinic's.

    Raises:
        NotFound: no such clinic.
        ValidationError, InvalidPhoneNumber, InvalidEmail: malformed input (nothing stored).
        DuplicatePatient: ``external_id`` is already used in this clinic.
    """
    clinic = get_or_404(session, Clinic, clinic_id)
    clean = clean_patient_fields(
        clinic,
        {
            "family_name": family_name,
            "given_name": given_name,
            "phone": phone,
            "email": email,
            "birth_date": birth_date,
            "locale": locale,
            "timezone": timezone,
            "external_id": external_id,
        },
    )
    if clean["external_id"] is not None:
        _check_external_id_free(session, clinic_id, clean["external_id"], exclude=None)
    stamp = utc(now)
    patient = Patient(clinic_id=clinic_id, created_at=stamp, updated_at=stamp, **clean)
    session.add(patient)
    _flush_unique(session)
    names_changed(session, clinic_id)
    record_audit(session, [patient.id], "create")
    return patient


def _check_external_id_free(session: Session, clinic_id: int, external_id: str, exclude: int | None) -> None:
    query = select(col(Patient.id)).where(col(Patient.clinic_id) == clinic_id, col(Patient.external_id) == external_id)
    found = session.scalars(query).first()
    if found is not None and found != exclude:
        raise DuplicatePatient(f"clinic {clinic_id} already has a patient with this external_id (patient {found})")


def _flush_unique(session: Session) -> None:
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise DuplicatePatient("another patient of this clinic has this external_id") from exc.orig


@reads
def get_patient(session: Session, patient_id: int) -> Patient:
    """Return the patient; for a record merged into another (``merge``), the patient it was merged into.

    Raises:
        NotFound: no such patient.
    """
    patient = current_patient(session, get_or_404(session, Patient, patient_id))
    record_audit(session, [patient.id], "read", None if patient.id == patient_id else {"asked": patient_id})
    return patient


def current_patient(session: Session, patient: Patient) -> Patient:
    """The record that stands for ``patient`` now: itself, or the end of its chain of merges."""
    while patient.merged_into_id is not None:
        patient = get_or_404(session, Patient, patient.merged_into_id)
    return patient


def update_patient(
    session: Session, /, patient_id: int, *, now: datetime | None = None, **fields: Unpack[PatientFields]
) -> Patient:
    """Change some of a patient's fields (the keyword names of ``register``); ``None`` clears an optional one.

    ``fields`` is typed by :class:`PatientFields`, so a host's type checker rejects an unknown name or a value
    of the wrong type; at run time an unknown name is a ``ValidationError`` whose ``.field`` names it.

    Raises:
        NotFound: no such patient.
        ValidationError, InvalidPhoneNumber, InvalidEmail: an unknown field or a malformed value (nothing stored).
        DuplicatePatient: ``external_id`` is already used by another patient of the clinic.
    """
    patient = get_or_404(session, Patient, patient_id, for_update=True)
    clinic = get_or_404(session, Clinic, patient.clinic_id)
    clean = clean_patient_fields(clinic, dict(fields))
    if clean.get("external_id") is not None:
        _check_external_id_free(session, patient.clinic_id, clean["external_id"], exclude=patient.id)
    for key, value in clean.items():
        setattr(patient, key, value)
    patient.updated_at = utc(now)
    _flush_unique(session)
    if "family_name" in clean or "given_name" in clean:
        names_changed(session, patient.clinic_id)
    record_audit(session, [patient_id], "update", {"fields": sorted(clean)})
    return patient


@reads
def find_patients(
    session: Session,
    clinic_id: int,
    *,
    phone: str | None = None,
    email: str | None = None,
    external_id: str | None = None,
    name: str | None = None,
) -> list[Patient]:
    """Patients of a clinic matching every criterion given, ordered by id (records merged into another left out).

    ``phone`` may be written in any local or international form the clinic's region parses; ``email``
    is compared normalised; ``name`` matches case-insensitively against the
    family name, the given name, or both written together in either order.

    Raises:
        NotFound: no such clinic.
        InvalidPhoneNumber, InvalidEmail: the criterion itself is malformed.
    """
    known = type(clinic_id) is int and 1 <= clinic_id <= MAX_ID
    if phone is not None or not known:  # the phone is read in the clinic's region; a bad id raises here
        region = get_or_404(session, Clinic, clinic_id).region
    conditions: list[Any] = []
    if phone is not None:
        conditions.append(col(Patient.phone) == normalize_phone(phone, region))
    if email is not None:
        conditions.append(func.lower(col(Patient.email)) == normalize_email(email).lower())
    if external_id is not None:
        conditions.append(col(Patient.external_id) == require_text(external_id, "external_id"))
    if name is not None:
        conditions.append(_name_matches(session, normalize_name(name, "name")))
    found = _FIND.all(session, {"clinic_id": clinic_id}, detached=owns_read(session), also=tuple(conditions))
    if not found and phone is None:
        get_or_404(session, Clinic, clinic_id)  # nothing found: an unknown clinic still raises NotFound
    record_audit(session, [patient.id for patient in found], "read")
    return found


#: The clinic's patients not merged into another record, by id (``find`` adds its criteria).
_FIND = DetachedQuery(
    Patient,
    where=(col(Patient.clinic_id) == bindparam("clinic_id"), col(Patient.merged_into_id).is_(None)),
    order_by=(col(Patient.id),),
)


def _name_matches(session: Session, name: str) -> Any:
    """Case-insensitive: the family name, the given name, or both together in either order; or every word in one.

    The indexes (``clinic_crm.db.name_search``) narrow the candidates to patients whose indexed text contains
    every word of three characters or more (trigrams) or, when every word is shorter, every longest word (one-
    and two-character grams); the exact match below decides, so results are the same with or without an index.
    """
    family, given = col(Patient.family_name), col(Patient.given_name)
    whole = name.lower()
    words = whole.split()
    tokens = [
        or_(func.lower(family).contains(tok, autoescape=True), func.lower(given).contains(tok, autoescape=True))
        for tok in words
    ]
    exact = or_(
        func.lower(family + given).contains(whole, autoescape=True),
        func.lower(given + " " + family).contains(whole, autoescape=True),
        func.lower(family + " " + given).contains(whole, autoescape=True),
        and_(*tokens),
    )
    distinct = list(dict.fromkeys(words))
    indexed = [word for word in distinct if len(word) >= MIN_TRIGRAM]
    dialect = session.get_bind().dialect.name
    if indexed:
        if dialect == "postgresql":  # the GIN index's own expression; the pattern inlined so every plan sees it
            pattern = [literal_column(PG_DOCUMENT).like(_like_pattern(word), escape="/") for word in indexed]
            return and_(*pattern, exact)
        if dialect == "sqlite" and _has_search_object(session, FTS_TABLE):
            phrase = " AND ".join('"' + word.replace('"', '""') + '"' for word in indexed)
            candidates = select(_FTS.c.rowid).where(_FTS.c.doc.op("MATCH")(phrase))
            return and_(col(Patient.id).in_(candidates), exact)
        return exact
    longest = max((len(word) for word in distinct), default=0)
    short = [word for word in distinct if len(word) == longest]  # two characters narrow more than one
    if not short:
        return exact
    if dialect == "postgresql" and _has_search_object(session, GRAMS_INDEX):  # the index's expression, inlined
        grams = array([bindparam(None, word, type_=Text(), literal_execute=True) for word in short])
        return and_(literal_column(PG_GRAMS).op("@>")(grams), exact)
    if dialect == "sqlite" and _has_search_object(session, VOCAB_TABLE):
        narrowed = []
        for word in short:
            low, high = term_range(word)
            terms = _VOCAB.c.term >= low if high is None else and_(_VOCAB.c.term >= low, _VOCAB.c.term < high)
            narrowed.append(col(Patient.id).in_(select(_VOCAB.c.doc).where(terms)))
        return and_(*narrowed, exact)
    return exact


_FTS = table(FTS_TABLE, column("rowid"), column("doc"))
_VOCAB = table(VOCAB_TABLE, column("term"), column("doc"))
#: Per name search object, the engines whose database has it (a database not migrated that far is asked again).
_PRESENT: dict[str, weakref.WeakSet[Engine]] = {}


def _has_search_object(session: Session, name: str) -> bool:
    """Whether this database has the name search object ``name`` (revisions 0011 and 0014 skip what cannot be built).

    A database migrated only to an earlier revision lacks it: the search then scans rather than fails.
    """
    connection = session.connection()
    engine = connection.engine
    present = _PRESENT.setdefault(name, weakref.WeakSet())
    if engine in present:
        return True
    if connection.dialect.name == "sqlite":
        probe = text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name")
    else:
        probe = text("SELECT 1 WHERE to_regclass(:name) IS NOT NULL")
    found = connection.execute(probe, {"name": name}).first()
    if found is not None:
        present.add(engine)
    return found is not None


def _like_pattern(word: str) -> Any:
    escaped = word.replace("/", "//").replace("%", "/%").replace("_", "/_")
    return bindparam(None, f"%{escaped}%", type_=String(), literal_execute=True)
