"""Patients and the history of their consent to be contacted."""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache

from babel import Locale
from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, UniqueConstraint
from sqlmodel import Field

from clinic_crm.models._base import Base, UTCDateTime

__all__ = ["CHANNELS", "PURPOSES", "is_cjk", "display_name", "Patient", "PatientNamesVersion", "ConsentEvent"]

CHANNELS = ("sms", "email")
PURPOSES = ("care", "marketing")

# Languages that write the family name first with no space (王小明, 山田太郎, 김민준).
_FAMILY_FIRST_NO_SPACE = frozenset({"zh", "ja", "ko", "yue"})
# Languages that write the family name first, separated by a space (Nguyễn Văn An, Nagy Anna).
_FAMILY_FIRST_SPACED = frozenset({"vi", "hu"})


def _is_cjk(text: str) -> bool:
    return any(
        "\u2e80" <= ch <= "\u9fff" or "\uac00" <= ch <= "\ud7af" or "\uf900" <= ch <= "\ufaff" or ch >= "\U00020000"
        for ch in text
    )


def is_cjk(text: str) -> bool:
    """Whether ``text`` has a Chinese, Japanese or Korean character (such names are written without spaces)."""
    return _is_cjk(text)


@lru_cache(maxsize=256)
def _language(locale: str) -> str:
    """The language of a Babel locale id (cached: ``Locale.parse`` scans the locale data each call)."""
    return str(Locale.parse(locale).language)


def display_name(family_name: str, given_name: str, locale: str) -> str:
    """Order a patient's names the way the locale writes them.

    ``zh``/``ja``/``ko`` with CJK names: family then given, no space (``王小明``);
    CJK locales with Latin-script names, and Western locales: given then family
    (``Ming Wang``); ``vi``/``hu``: family then given with a space.
    """
    language = _language(locale)
    if language in _FAMILY_FIRST_NO_SPACE and (_is_cjk(family_name) or _is_cjk(given_name)):
        return f"{family_name}{given_name}"
    if language in _FAMILY_FIRST_SPACED:
        return f"{family_name} {given_name}"
    if _is_cjk(family_name) and _is_cjk(given_name):
        return f"{family_name}{given_name}"
    return f"{given_name} {family_name}"


class Patient(Base, table=True):
    """A patient of one clinic; phone in E.164, names as given (NFC)."""

    __tablename__ = "patient"
    __table_args__ = (
        UniqueConstraint("clinic_id", "external_id"),
        Index(None, "clinic_id", "phone"),
        Index(None, "clinic_id", "email"),
        Index(None, "clinic_id", "updated_at"),  # the reply check's "patients changed?" seek (reputation/guard.py)
    )

    id: int = Field(default=None, primary_key=True)
    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), nullable=False))
    external_id: str | None = Field(default=None, max_length=100)  # the host system's id; unique per clinic
    family_name: str = Field(max_length=200)  # NFC, trimmed
    given_name: str = Field(max_length=200)  # NFC, trimmed
    phone: str | None = Field(default=None, max_length=20)  # E.164, e.g. "+886912345678"
    email: str | None = Field(default=None, max_length=320)  # normalised address
    birth_date: date | None = Field(default=None)
    locale: str = Field(max_length=32)  # Babel locale id; defaults to the clinic's
    timezone: str = Field(max_length=64)  # IANA name; defaults to the clinic's
    created_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # merged into another record of the same clinic (``crm.patients.merge``): that one is the patient now
    merged_into_id: int | None = Field(
        default=None, sa_column=Column(Integer, ForeignKey("patient.id"), nullable=True, index=True)
    )
    merged_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    merged_by: str | None = Field(default=None, max_length=200)  # the member of staff who merged
    # erased (``crm.patients.erase``): identity pseudonymised, contact data cleared, never contacted again
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime()))
    erased_by: str | None = Field(default=None, max_length=200)  # the member of staff who erased
    erasure_reason: str | None = Field(default=None, max_length=500)  # staff's reason (e.g. "patient request")

    @property
    def display_name(self) -> str:
        """The patient's name ordered for their locale (``王小明``, ``Ming Wang``)."""
        return display_name(self.family_name, self.given_name, self.locale)

    def __repr__(self) -> str:  # never show names or contact data
        return f"Patient(id={self.id!r}, clinic_id={self.clinic_id!r})"

    __str__ = __repr__


class PatientNamesVersion(Base, table=True):
    """A counter per clinic, raised in the transaction of every change to the names of its patients.

    The reply check (``services/reputation/guard.py``) keeps an index of the clinic's patient names and asks this
    counter whether it is still current: unlike time stamps or the highest id, a counter raised in the writing
    transaction cannot miss a change whatever the clocks say or the order in which transactions commit.  A clinic
    without a row has had no change since revision 0013.  Raised by
    :func:`clinic_crm.services.patient_names.names_changed`.
    """

    __tablename__ = "patient_names_version"

    clinic_id: int = Field(sa_column=Column(Integer, ForeignKey("clinic.id"), primary_key=True, autoincrement=False))
    version: int = Field(sa_column=Column(BigInteger, nullable=False))


class ConsentEvent(Base, table=True):
    """One grant or withdrawal of consent for a channel and purpose; rows are never updated or deleted."""

    __tablename__ = "consent_event"
    __table_args__ = (Index(None, "patient_id", "channel", "purpose", "at"),)

    id: int = Field(default=None, primary_key=True)
    patient_id: int = Field(sa_column=Column(Integer, ForeignKey("patient.id"), nullable=False))
    channel: str = Field(max_length=10)  # "sms" | "email"
    purpose: str = Field(max_length=20)  # "care" | "marketing"
    granted: bool  # True for a grant, False for a withdrawal
    source: str = Field(max_length=200)  # who or what recorded it: "front desk", "sms reply", "web form"
    at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # when it took effect
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))  # when it was written
