"""A fast path for ``phonenumbers``' parse → validate → E.164 of numbers written the usual way.

A bulk import spends most of its time in ``phonenumbers`` (pure Python): its ``parse`` handles any
text (letters, extensions, RFC 3966, full-width digits …) and ``is_valid_number`` re-reads the
metadata per call.  For the common case — ASCII digits and the separators `` ().-``, at most a
leading ``+`` (:func:`compact`) — :func:`fast_e164` follows ``parse``'s own steps on the digits,
calling ``phonenumbers``' own helpers for every rule of the metadata (country code, national
prefix, possible lengths), and checks validity with the metadata's patterns compiled once.
Whenever a step would leave the common case (an IDD prefix, a national number starting with the
country code, anything too short or too long) or the number is not valid, it answers ``None`` and
the caller runs ``phonenumbers`` itself on the input as given, so results and errors are unchanged.

``tests/unit/test_phone_fast_path.py`` checks the agreement (the ``PhoneNumber`` built and the
E.164 answer) over every region's example number of every type in several written forms, and over
generated digit strings.  This module reads private helpers of ``phonenumbers``; if a release
renames them, :data:`AVAILABLE` is false and every number takes the slow path.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import phonenumbers

__all__ = ["AVAILABLE", "compact", "fast_e164", "fast_parse", "may_be_fixed_line"]

try:  # private helpers of phonenumbers: the same code parse() runs
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import (
        COUNTRY_CODE_TO_REGION_CODE,
        ValidationResult,
        _extract_country_code,
        _maybe_strip_national_prefix_carrier_code,
        _test_number_length,
    )

    AVAILABLE = True
except ImportError:  # pragma: no cover - a phonenumbers release without them: slow path only
    AVAILABLE = False

#: A number as people write it: ASCII digits and the separators `` ().-``, at most a leading ``+``.
_PLAIN = re.compile(r"\+?[0-9 ().\-]+")
_SEPARATORS = str.maketrans("", "", " ().-")
_MAX_INPUT = 250  # phonenumbers' _MAX_INPUT_STRING_LENGTH
_MIN_NSN, _MAX_NSN = 2, 17  # phonenumbers' _MIN_LENGTH_FOR_NSN, _MAX_LENGTH_FOR_NSN
_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager", "uan", "voicemail")


def compact(value: str) -> str | None:
    """``value`` without its separators (``"+886912345678"``) when ``phonenumbers`` would read it as that.

    For such a string ``phonenumbers.parse`` keeps the first ``+`` or digit onwards, drops trailing
    separators, finds no extension (every extension pattern needs a letter, ``#``, ``,``, ``;`` or
    ``~``), no RFC 3966 context and no second number, finds it viable when it has three digits or
    more (only the bare two-digit form depends on the separators), and from then on reads only the
    digits and whether a ``+`` leads.
    """
    if len(value) > _MAX_INPUT or _PLAIN.fullmatch(value) is None:
        return None
    digits = value.translate(_SEPARATORS)
    if len(digits) - digits.startswith("+") < 3:
        return None
    return digits


def fast_parse(digits: str, region: str) -> Any | None:
    """``phonenumbers.parse(digits, region)`` for a :func:`compact` string, or ``None`` outside the common case."""
    metadata = PhoneMetadata.metadata_for_region(region, None)
    if metadata is None:
        return None
    if digits[0] == "+":
        number = digits[1:]
        if len(number) <= _MIN_NSN:
            return None  # TOO_SHORT_AFTER_IDD
        country_code, national = _extract_country_code(number)
        if country_code == 0:
            return None  # INVALID_COUNTRY_CODE
        regions = COUNTRY_CODE_TO_REGION_CODE[country_code]
        if regions[0] != region:
            metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
            if metadata is None:  # pragma: no cover - every listed code has metadata
                return None
    else:
        idd = _idd(metadata.international_prefix)
        if idd is not None and (match := idd.match(digits)) and digits[match.end() : match.end() + 1] != "0":
            return None  # an international prefix (as 002 in Taiwan): the slow path extracts the country
        if metadata.country_code is None or digits.startswith(str(metadata.country_code)):
            return None  # maybe the country code without "+": the slow path decides
        country_code, national = metadata.country_code, digits
    if len(national) < _MIN_NSN:
        return None
    _, potential, _ = _maybe_strip_national_prefix_carrier_code(national, metadata)
    if _test_number_length(potential, metadata) not in (
        ValidationResult.TOO_SHORT,
        ValidationResult.IS_POSSIBLE_LOCAL_ONLY,
        ValidationResult.INVALID_LENGTH,
    ):
        national = potential
    if not _MIN_NSN <= len(national) <= _MAX_NSN:
        return None
    parsed = phonenumbers.PhoneNumber(country_code=country_code, national_number=int(national))
    if len(national) > 1 and national[0] == "0":  # as _set_italian_leading_zeros_for_phone_number
        parsed.italian_leading_zero = True
        zeros = 1
        while zeros < len(national) - 1 and national[zeros] == "0":
            zeros += 1
        if zeros != 1:
            parsed.number_of_leading_zeros = zeros
    return parsed


def fast_e164(digits: str, region: str) -> str | None:
    """E.164 of a :func:`compact` number when it is valid and in the common case, else ``None`` (slow path)."""
    parsed = fast_parse(digits, region)
    if parsed is None:
        return None
    # the national significant number: as parsed, national is kept with its leading zeros
    nsn = ("0" * (parsed.number_of_leading_zeros or 1) if parsed.italian_leading_zero else "") + str(
        parsed.national_number
    )
    if not _valid(parsed.country_code)(nsn):
        return None
    return f"+{parsed.country_code}{nsn}"


@lru_cache(maxsize=64)
def _idd(pattern: str | None) -> re.Pattern[str] | None:
    return None if pattern is None else re.compile(pattern)


_Desc = tuple[frozenset[int], re.Pattern[str]] | None


def _desc(desc: Any) -> _Desc:
    if desc is None or not desc.national_number_pattern:
        return None
    return frozenset(desc.possible_length), re.compile(desc.national_number_pattern)


def _matches(desc: _Desc, nsn: str) -> bool:
    """``phonenumbers``' ``_is_number_matching_desc``: a possible length (when lengths are listed) and a full match."""
    return desc is not None and (not desc[0] or len(nsn) in desc[0]) and desc[1].fullmatch(nsn) is not None


def _type_known(metadata: Any) -> Callable[[str], bool]:
    """``_number_type_helper(nsn, metadata) != UNKNOWN`` with the metadata's patterns compiled once."""
    general = _desc(metadata.general_desc)
    others = [_desc(getattr(metadata, name)) for name in _TYPES]
    fixed = _desc(metadata.fixed_line)
    mobile = None if metadata.same_mobile_and_fixed_line_pattern else _desc(metadata.mobile)

    def known(nsn: str) -> bool:
        if not _matches(general, nsn):
            return False
        return any(_matches(desc, nsn) for desc in others) or _matches(fixed, nsn) or _matches(mobile, nsn)

    return known


@lru_cache(maxsize=512)
def _valid(country_code: int) -> Callable[[str], bool]:
    """``phonenumbers.is_valid_number`` for numbers of ``country_code``, as a function of the national number."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(country_code, ())
    candidates: list[tuple[re.Pattern[str] | None, Callable[[str], bool]]] = []
    for region in regions:
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        if metadata is None or (len(regions) > 1 and PhoneMetadata.metadata_for_region(region, None) is None):
            continue  # _region_code_for_number_from_list skips regions without geographic metadata
        lead = re.compile(metadata.leading_digits) if metadata.leading_digits is not None else None
        candidates.append((lead, _type_known(metadata)))
    if len(regions) == 1:  # region_code_for_number: the only region

        def only(nsn: str) -> bool:
            return bool(candidates) and candidates[0][1](nsn)

        return only

    def valid(nsn: str) -> bool:
        for lead, known in candidates:  # _region_code_for_number_from_list, then is_valid_number_for_region
            if lead is not None:
                if lead.match(nsn):
                    return known(nsn)
            elif known(nsn):
                return True
        return False

    return valid


def may_be_fixed_line(country_code: int, nsn: str) -> bool:
    """False only when ``phonenumbers.number_type`` cannot say ``FIXED_LINE`` for ``+<country_code><nsn>``.

    ``number_type`` answers ``FIXED_LINE`` only when the number matches the fixed-line description of the
    region it resolves to, which is one of the regions of its country code: a number that matches none of
    them is typed otherwise, without the other nine descriptions being tried.  ``True``: ask
    ``phonenumbers``.  ``nsn`` is the national significant number (no leading zero).
    """
    if not AVAILABLE:  # pragma: no cover - a phonenumbers release without the private helpers
        return True
    return any(_matches(desc, nsn) for desc in _fixed_lines(country_code))


@lru_cache(maxsize=512)
def _fixed_lines(country_code: int) -> tuple[_Desc, ...]:
    """The fixed-line descriptions of every region (and non-geographic entity) of ``country_code``."""
    found = []
    for region in COUNTRY_CODE_TO_REGION_CODE.get(country_code, ()):
        metadata = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
        if metadata is not None:
            found.append(_desc(metadata.fixed_line))
    return tuple(found)
