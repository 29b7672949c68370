"""Validation and normalisation of the values that cross the public API.

Every function here either returns the normalised value or raises the
matching :mod:`clinic_crm.errors` type.  None of them puts the rejected
value into the error message.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import phonenumbers
from babel import Locale, UnknownLocaleError
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES, DOT_ATOM_TEXT, EMAIL_MAX_LENGTH

from clinic_crm import _phone
from clinic_crm.errors import (
    InvalidEmail,
    InvalidPhoneNumber,
    NaiveDatetimeError,
    ValidationError,
)

__all__ = [
    "aware",
    "check_unicode",
    "MIN_YEAR",
    "MAX_YEAR",
    "utc",
    "utcnow",
    "check_timezone",
    "check_locale",
    "check_region",
    "normalize_phone",
    "normalize_email",
    "normalize_name",
    "check_choice",
    "check_localized_text",
    "parse_date",
    "zone",
]

NAME_MAX = 200
#: The longest locale id stored (the locale columns' width).
LOCALE_MAX = 32

_CASE_INSENSITIVE_MAILBOX_NAMES = frozenset(CASE_INSENSITIVE_MAILBOX_NAMES)


def utcnow() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)


#: Instants the library accepts: years ``MIN_YEAR`` … ``MAX_YEAR`` (far enough for any clinic, and far enough
#: from datetime's limits that adding a recall interval or converting between zones never overflows).
MIN_YEAR = 1900
MAX_YEAR = 2199


def aware(value: object, field: str) -> datetime:
    """Return ``value`` converted to UTC; raise ``NaiveDatetimeError`` when it carries no time zone.

    Raises:
        NaiveDatetimeError: ``value`` is a naive datetime.
        ValidationError: ``value`` is not a datetime at all, or outside the years ``MIN_YEAR`` … ``MAX_YEAR``.
    """
    if not isinstance(value, datetime):
        raise ValidationError(f"{field} must be a timezone-aware datetime", field=field)
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveDatetimeError(
            f"{field} must be timezone-aware (e.g. datetime(..., tzinfo=UTC)); got a naive datetime",
            field=field,
        )
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValidationError(f"{field} must be in the years {MIN_YEAR} to {MAX_YEAR}", field=field)
    return value.astimezone(UTC)


def utc(value: datetime | None, field: str = "now") -> datetime:
    """Like :func:`aware`, but ``None`` means now."""
    return utcnow() if value is None else aware(value, field)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


@lru_cache(maxsize=512)
def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` for an IANA name already checked by :func:`check_timezone`."""
    return ZoneInfo(name)


def check_timezone(value: object, field: str = "timezone") -> str:
    """Return ``value`` if it is an IANA time zone name (``"Asia/Taipei"``), else raise ``ValidationError``."""
    if not isinstance(value, str) or value not in _zones() or value == "localtime":
        # "localtime" is the machine's own zone, not an IANA name: it means different things on different hosts
        raise ValidationError(f"{field} must be an IANA time zone name such as 'Asia/Taipei'", field=field)
    try:
        zone(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:  # pragma: no cover - tzdata inconsistency
        raise ValidationError(f"{field} is not a loadable time zone", field=field) from exc
    return value


@lru_cache(maxsize=256)
def _parse_locale(value: str) -> Locale:
    return Locale.parse(value)


def check_locale(value: object, field: str = "locale") -> str:
    """Return ``value`` if Babel knows it as a locale id (``"zh_TW"``, ``"en_US"``), else raise ``ValidationError``."""
    if not isinstance(value, str) or not value or "-" in value or len(value) > LOCALE_MAX:
        raise ValidationError(f"{field} must be a Babel locale id such as 'zh_TW' or 'en_US'", field=field)
    try:
        _parse_locale(value)
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValidationError(f"{field} must be a Babel locale id such as 'zh_TW' or 'en_US'", field=field) from exc
    return value


def check_region(value: object, field: str = "region") -> str:
    """Return the ISO 3166 country code (upper-case) if phonenumbers knows its numbering plan."""
    if not isinstance(value, str) or value.upper() not in phonenumbers.SUPPORTED_REGIONS:
        raise ValidationError(f"{field} must be an ISO country code with a numbering plan, such as 'TW'", field=field)
    return value.upper()


def normalize_phone(value: object, region: str, field: str = "phone") -> str:
    """Parse a phone number written in ``region``'s local or international form and return E.164.

    Raises:
        InvalidPhoneNumber: not a string, unparsable, or not a valid number.
    """
    if not isinstance(value, str):
        raise InvalidPhoneNumber(f"{field} must be a string", field=field, value=value)
    digits = _phone.compact(value) if _phone.AVAILABLE else None
    if digits is not None:  # the common case, answered exactly as below (see clinic_crm._phone)
        e164 = _phone.fast_e164(digits, region)
        if e164 is not None:
            return e164
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(
            f"{field} could not be parsed as a phone number for region {region}", field=field, value=value
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"{field} is not a valid phone number for region {region}", field=field, value=value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def is_fixed_line(e164: str) -> bool:
    """True when phonenumbers types the number as ``FIXED_LINE`` (an SMS cannot reach it).

    An E.164 string as :func:`normalize_phone` stores it is split at its (prefix-free) country code instead of
    going through ``phonenumbers.parse`` (two thirds of the cost; dispatch asks once per message), and a number
    that matches no fixed-line pattern of its country code (a mobile, most of what dispatch sees) is answered
    without typing it (:func:`clinic_crm._phone.may_be_fixed_line`); anything else, and a national part
    starting with 0 (Italian land lines), goes through the parser.
    """
    split = _split_e164(e164)
    if split is None:
        number = phonenumbers.parse(e164, None)
    else:
        country_code, national = split
        if not _phone.may_be_fixed_line(country_code, national):
            return False
        number = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    return bool(phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE)


def _split_e164(e164: str) -> tuple[int, str] | None:
    """``+<country code><national number>`` as its country code and national number; ``None``: the parser decides."""
    digits = e164[1:]
    if not (e164.startswith("+") and digits.isdigit()):
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            if not national or national[0] == "0":
                return None
            return code, national
    return None


def normalize_email(value: object, field: str = "email") -> str:
    """Validate an e-mail address's syntax (no DNS look-up) and return its normalised form.

    Raises:
        InvalidEmail: not a string or not a syntactically valid address.
    """
    if not isinstance(value, str):
        raise InvalidEmail(f"{field} must be a string", field=field, value=value)
    fast = _normalize_email_fast(value)
    if fast is not None:
        return fast
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(f"{field} is not a valid e-mail address", field=field, value=value) from exc
    return str(result.normalized)


@lru_cache(maxsize=4096)
def _email_domain(domain: str) -> tuple[str, int] | None:
    """``(normalised domain, longest UTF-8 length)`` for the domain of ``x@<domain>``; ``None`` if invalid.

    The normalised domain is what ``validate_email`` returns; the length is the
    longest of the given, normalised and ASCII forms in UTF-8 bytes (the three
    addresses whose length ``validate_email`` checks differ only in their domain).

    Validating a domain is most of ``validate_email``'s cost and a clinic's
    patients share a few hundred domains, so the result is cached per domain.
    """
    try:
        result = validate_email("x@" + domain, check_deliverability=False)
    except EmailNotValidError:
        return None
    if result.display_name is not None or result.local_part != "x" or result.original != "x@" + domain:
        return None  # pragma: no cover - the split did not happen where expected; take the slow path
    normalized, ascii_domain = str(result.domain), str(result.ascii_domain)
    longest = max(len(domain.encode("utf-8")), len(normalized.encode("utf-8")), len(ascii_domain.encode("utf-8")))
    return normalized, longest


def _normalize_email_fast(value: str) -> str | None:
    """The result ``validate_email(value).normalized`` would give, for the common case only; ``None`` otherwise.

    Taken only when the local part is plain ASCII dot-atom text (which
    ``validate_email`` returns unchanged), not one of the case-insensitive
    mailbox names it lower-cases, and the domain is valid; the three length
    checks of ``validate_email`` are repeated (the local part is ASCII: its UTF-8 length is its
    length).  Anything else (including every
    invalid address) goes through ``validate_email`` itself, so the result and
    the errors are identical.
    """
    local, at, domain = value.rpartition("@")
    if not at or not DOT_ATOM_TEXT.match(local) or local.lower() in _CASE_INSENSITIVE_MAILBOX_NAMES:
        return None
    domains = _email_domain(domain)
    if domains is None or len(local) + 1 + domains[1] > EMAIL_MAX_LENGTH:
        return None
    return local + "@" + domains[0]


def normalize_name(value: object, field: str) -> str:
    """Return the name NFC-normalised and trimmed.

    Raises:
        ValidationError: not a string, empty, too long, or containing control
            characters (NUL included) or lone surrogates.
    """
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field)
    if len(value) <= NAME_MAX:
        return _normalize_name_cached(value, field)
    return _normalize_name(value, field)


def check_unicode(value: str, field: str) -> str:
    """``value`` unchanged when it is valid Unicode text a database stores (no lone surrogate, no NUL).

    Raises:
        ValidationError: a lone surrogate or a NUL character.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationError(f"{field} contains a lone surrogate; text must be valid Unicode", field=field) from None
    if "\x00" in value:
        raise ValidationError(f"{field} must not contain NUL characters", field=field)
    return value


def clean_text(value: object, field: str, *, max_length: int, allowed_controls: str = "") -> str:
    """Return ``value`` NFC-normalised and trimmed: names, question texts, options.

    Args:
        max_length: the longest text accepted, counted after normalising.
        allowed_controls: control characters that may stay (``"\n\t"`` for multi-line text).

    Raises:
        ValidationError: not a string, empty, too long, a lone surrogate, or another control
            character (NUL included).
    """
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string", field=field)
    check_unicode(value, field)
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValidationError(f"{field} must not be empty", field=field)
    if len(text) > max_length:
        raise ValidationError(f"{field} must be at most {max_length} characters", field=field)
    if any(unicodedata.category(ch) == "Cc" and ch not in allowed_controls for ch in text):
        raise ValidationError(f"{field} must not contain control characters", field=field)
    return text


def _normalize_name(value: str, field: str) -> str:
    return clean_text(value, field, max_length=NAME_MAX)


#: Names repeat (a bulk import sees 陳 thousands of times): short ones are cached.  Errors are not
#: cached; they are raised afresh on every call.
_normalize_name_cached = lru_cache(maxsize=2048)(_normalize_name)


def check_choice(value: object, allowed: tuple[str, ...], field: str) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValidationError`` listing them."""
    if value not in allowed:
        raise ValidationError(f"{field} must be one of {', '.join(allowed)}", field=field)
    assert isinstance(value, str)
    return value


def parse_date(value: object, field: str = "birth_date") -> date:
    """Accept a ``date`` or an ISO ``YYYY-MM-DD`` string; reject datetimes and anything else."""
    if isinstance(value, str):  # first: the common case (a str is never a date)
        try:
            return date.fromisoformat(value.strip())
        except ValueError as exc:
            raise ValidationError(f"{field} must be an ISO date (YYYY-MM-DD)", field=field) from exc
    if isinstance(value, datetime):
        raise ValidationError(f"{field} must be a date, not a datetime", field=field)
    if isinstance(value, date):
        return value
    raise ValidationError(f"{field} must be a date or an ISO date string", field=field)


def check_time(value: object, field: str) -> time:
    """Return ``value`` if it is a naive ``datetime.time`` (a wall-clock time), else raise ``ValidationError``."""
    if not isinstance(value, time) or value.tzinfo is not None:
        raise ValidationError(f"{field} must be a datetime.time without tzinfo", field=field)
    return value


def check_localized_text(value: object, field: str, *, max_length: int) -> str | dict[str, str]:
    """A text given as a ``str`` or as a ``{locale: str}`` dict (statements, holding statements, posts).

    Each text is :func:`clean_text` (line breaks and tabs allowed); each locale a Babel id (:func:`check_locale`).

    Raises:
        ValidationError: neither a non-empty str nor a non-empty dict of locale → non-empty str (``.field`` is
            ``field``).
    """
    if isinstance(value, str):
        return clean_text(value, field, max_length=max_length, allowed_controls="\n\t")
    if not isinstance(value, dict) or not value:
        raise ValidationError(f"{field} must be a str or a non-empty {{locale: str}} dict", field=field)
    return {
        check_locale(locale, field): clean_text(text, field, max_length=max_length, allowed_controls="\n\t")
        for locale, text in value.items()
    }
