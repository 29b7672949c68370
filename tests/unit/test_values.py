"""Validation of values that cross the API (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import available_timezones

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm.errors import InvalidEmail, InvalidPhoneNumber, NaiveDatetimeError, ValidationError
from clinic_crm.models.patients import display_name
from clinic_crm.values import (
    MAX_YEAR,
    MIN_YEAR,
    aware,
    check_locale,
    check_region,
    check_time,
    check_timezone,
    is_fixed_line,
    normalize_email,
    normalize_name,
    normalize_phone,
    parse_date,
)


@given(st.datetimes(min_value=datetime(MIN_YEAR, 1, 1), max_value=datetime(MAX_YEAR, 12, 31), timezones=st.timezones()))
def test_aware_keeps_the_instant_in_utc(value: datetime) -> None:
    result = aware(value, "at")
    # compare instants: Python never calls a wall time inside a DST gap or fold equal across zones
    assert result.timestamp() == value.timestamp() and result.tzinfo is UTC


@given(st.datetimes(timezones=st.timezones()).filter(lambda v: not MIN_YEAR <= v.year <= MAX_YEAR))
def test_aware_refuses_instants_outside_the_supported_years(value: datetime) -> None:
    with pytest.raises(ValidationError) as info:
        aware(value, "at")
    assert info.value.field == "at" and not isinstance(info.value, NaiveDatetimeError)


@given(st.datetimes())
def test_naive_is_rejected(value: datetime) -> None:
    with pytest.raises(NaiveDatetimeError) as info:
        aware(value, "starts_at")
    assert info.value.field == "starts_at"


@pytest.mark.parametrize("value", ["2026-01-01T00:00:00+00:00", date(2026, 1, 1), None, 0])
def test_aware_rejects_non_datetimes(value: object) -> None:
    with pytest.raises(ValidationError):
        aware(value, "at")


# "localtime" is in available_timezones() where the system's zoneinfo has that link; it is refused on purpose
@given(st.sampled_from(sorted(available_timezones() - {"localtime"})))
def test_every_iana_zone_is_accepted_as_given(name: str) -> None:
    assert check_timezone(name) == name


def test_the_machines_localtime_is_not_a_zone() -> None:
    with pytest.raises(ValidationError):
        check_timezone("localtime")


@pytest.mark.parametrize("name", ["", "UTC+8", "Asia/Taipie", "asia/taipei", "+08:00", None, 8])
def test_bad_zones(name: object) -> None:
    with pytest.raises(ValidationError):
        check_timezone(name)


@pytest.mark.parametrize("locale", ["zh_TW", "en_US", "ja_JP", "en", "zh_Hant_TW", "vi"])
def test_good_locales(locale: str) -> None:
    assert check_locale(locale) == locale


@pytest.mark.parametrize("locale", ["", "xx", "en-US", "zz_ZZ", "klingon", None, 1])
def test_bad_locales(locale: object) -> None:
    with pytest.raises(ValidationError) as info:
        check_locale(locale)
    assert info.value.field == "locale"


def test_region() -> None:
    assert check_region("tw") == "TW"
    with pytest.raises(ValidationError):
        check_region("XX")


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("0912-345-678", "TW", "+886912345678"),
        ("0912 345 678", "TW", "+886912345678"),
        ("+886 912 345 678", "TW", "+886912345678"),
        ("(02) 2345-6789", "TW", "+886223456789"),
        ("(201) 555-0123", "US", "+12015550123"),
        ("+81 90-1234-5678", "TW", "+819012345678"),
        ("０９１２３４５６７８", "TW", "+886912345678"),  # full-width digits
    ],
)
def test_phone_normalisation(raw: str, region: str, e164: str) -> None:
    assert normalize_phone(raw, region) == e164


@pytest.mark.parametrize("raw", ["", "12", "0912-345", "call me", "+999 123"])
def test_bad_phones_keep_value_out_of_message(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        normalize_phone(raw, "TW")
    assert info.value.value == raw
    if raw:
        assert raw not in str(info.value)


def test_fixed_line_detection() -> None:
    assert is_fixed_line("+886223456789")
    assert not is_fixed_line("+886912345678")
    assert not is_fixed_line("+12015550123")  # FIXED_LINE_OR_MOBILE is sendable
    assert is_fixed_line("+390236618300")  # an Italian land line keeps its leading 0 (through the parser)


def test_fixed_line_agrees_with_phonenumbers_on_every_regions_examples() -> None:
    """``is_fixed_line`` skips ``phonenumbers.parse`` for E.164 input: it must type every example number alike."""
    examples = [
        phonenumbers.example_number_for_type(region, kind)
        for region in sorted(phonenumbers.SUPPORTED_REGIONS)
        for kind in phonenumbers.PhoneNumberType.values()
    ]
    examples += [
        phonenumbers.example_number_for_non_geo_entity(code) for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    checked = 0
    for example in examples:
        if example is not None:
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            expected = (
                phonenumbers.number_type(phonenumbers.parse(e164, None)) == phonenumbers.PhoneNumberType.FIXED_LINE
            )
            assert is_fixed_line(e164) == expected, e164
            checked += 1
    assert checked > 1000


def test_email() -> None:
    assert normalize_email("Ming@Example.COM") == "Ming@example.com"
    for bad in ["", "ming", "ming@", "@x.com", "a b@x.com", "ming@@x.com"]:
        with pytest.raises(InvalidEmail):
            normalize_email(bad)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=50))
def test_names_are_nfc_trimmed(raw: str) -> None:
    import unicodedata

    expected = unicodedata.normalize("NFC", raw).strip()
    if not expected:
        with pytest.raises(ValidationError):
            normalize_name(raw, "given_name")
    else:
        assert normalize_name(raw, "given_name") == expected


@pytest.mark.parametrize("raw", ["a\x00b", "\ud83d", "x\x07", "   ", "a" * 201])
def test_bad_names(raw: str) -> None:
    with pytest.raises(ValidationError):
        normalize_name(raw, "family_name")


def test_display_name_by_locale() -> None:
    assert display_name("王", "小明", "zh_TW") == "王小明"
    assert display_name("Wang", "Ming", "en_US") == "Ming Wang"
    assert display_name("Wang", "Ming", "zh_TW") == "Ming Wang"
    assert display_name("山田", "太郎", "ja_JP") == "山田太郎"
    assert display_name("Nguyễn", "An", "vi") == "Nguyễn An"
    assert display_name("王", "小明", "en_US") == "王小明"


def test_dates_and_times() -> None:
    assert parse_date("1990-05-17") == date(1990, 5, 17)
    with pytest.raises(ValidationError):
        parse_date(datetime(1990, 5, 17, tzinfo=UTC))
    with pytest.raises(ValidationError):
        parse_date("17.05.1990")
    assert check_time(time(21), "quiet_hours") == time(21)
    with pytest.raises(ValidationError):
        check_time(time(21, tzinfo=timezone(timedelta(hours=8))), "quiet_hours")


def test_fixed_line_agrees_with_phonenumbers_on_neighbours_of_the_examples() -> None:
    """The mobile short-cut (no fixed-line pattern of the country code matches) on numbers near every example.

    Each example's national number with its first digit replaced by 1…9: numbers of other types and of no type.
    """
    checked = 0
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            national = str(example.national_number)
            for first in "123456789":
                e164 = f"+{example.country_code}{first}{national[1:]}"
                number = phonenumbers.parse(e164, None)
                expected = phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE
                assert is_fixed_line(e164) == expected, e164
                checked += 1
    assert checked > 3000
