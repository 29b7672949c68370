"""The phone fast path (clinic_crm._phone) agrees with phonenumbers on every number (no database).

Reference: ``phonenumbers.parse`` → ``is_valid_number`` → E.164 on the input as given.  Checked on every
region's example number of every type (and its invalid example), each written several ways, parsed with
its own region and with two others; then on generated digit strings and on example numbers with a digit
changed, added or dropped.
"""

from __future__ import annotations

from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from clinic_crm import _phone
from clinic_crm.errors import InvalidPhoneNumber
from clinic_crm.values import normalize_phone

REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)
TYPES = [value for name, value in vars(phonenumbers.PhoneNumberType).items() if name.isupper()]
FORMATS = (
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.NATIONAL,
)


def reference(value: str, region: str) -> str:
    """What ``normalize_phone`` must answer: phonenumbers on the input as given."""
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return "unparsable"
    if not phonenumbers.is_valid_number(number):
        return "invalid"
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def ours(value: str, region: str) -> str:
    try:
        return normalize_phone(value, region)
    except InvalidPhoneNumber as exc:
        return "unparsable" if "could not be parsed" in str(exc) else "invalid"


def written_forms(number: phonenumbers.PhoneNumber) -> Iterator[str]:
    """The number as phonenumbers formats it, and as people type those forms (digits only, dashes, dots, parens)."""
    for form in FORMATS:
        text = phonenumbers.format_number(number, form)
        yield text
        digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
        yield digits
        yield text.replace(" ", "-")
        yield text.replace(" ", ".")
        if len(digits) > 6:
            head = 1 if digits.startswith("+") else 0
            yield f"{digits[:head]}({digits[head : head + 3]}) {digits[head + 3 :]}"


def example_numbers() -> Iterator[tuple[str, phonenumbers.PhoneNumber]]:
    for region in REGIONS:
        for kind in TYPES:
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                yield region, number
        invalid = phonenumbers.invalid_example_number(region)
        if invalid is not None:
            yield region, invalid
    for code in phonenumbers.COUNTRY_CODES_FOR_NON_GEO_REGIONS:
        number = phonenumbers.example_number_for_non_geo_entity(code)
        if number is not None:
            yield "001", number


EXAMPLES = list(example_numbers())


def test_every_example_number_of_every_region_and_type() -> None:
    checked = fast = 0
    mismatches: list[tuple[str, str, str, str]] = []
    for home, number in EXAMPLES:
        for text in set(written_forms(number)):
            for region in {home, "TW", "US"} - {"001"}:
                expected, got = reference(text, region), ours(text, region)
                checked += 1
                digits = _phone.compact(text)
                if digits is not None and _phone.fast_e164(digits, region) is not None:
                    fast += 1
                if expected != got:
                    mismatches.append((text, region, expected, got))
    assert not mismatches, mismatches[:10]
    print(f"{len(EXAMPLES)} example numbers, {checked} checks, {fast} answered by the fast path")
    assert len(EXAMPLES) > 1500 and checked > 20_000
    assert fast > checked / 3  # the fast path really answers most of them


def test_fast_parse_builds_what_parse_builds() -> None:
    """Beyond the E.164 answer: the PhoneNumber the fast path builds equals phonenumbers.parse's, field by field."""
    compared = 0
    for home, number in EXAMPLES:
        for text in set(written_forms(number)):
            digits = _phone.compact(text)
            for region in {home, "US"} - {"001"}:
                if digits is None:
                    continue
                built = _phone.fast_parse(digits, region)
                if built is None:
                    continue
                assert built == phonenumbers.parse(text, region), (text, region)
                compared += 1
    assert compared > 10_000


@st.composite
def typed_numbers(draw: st.DrawFn) -> tuple[str, str]:
    """A digit string written with separators, sometimes with a leading +, and a region to parse it with."""
    digits = draw(st.text("0123456789", min_size=1, max_size=18))
    if draw(st.booleans()):
        home, example = draw(st.sampled_from(EXAMPLES))
        # an example number with one digit changed, added or dropped
        national = str(example.national_number)
        at = draw(st.integers(0, len(national)))
        edit = draw(st.sampled_from(["change", "add", "drop"]))
        digit = draw(st.sampled_from("0123456789"))
        if edit == "change" and at < len(national):
            national = national[:at] + digit + national[at + 1 :]
        elif edit == "add":
            national = national[:at] + digit + national[at:]
        elif at < len(national):
            national = national[:at] + national[at + 1 :]
        digits = f"{example.country_code}{national}" if draw(st.booleans()) else "0" + national
    separators = draw(
        st.lists(st.sampled_from(["", " ", "-", ".", "(", ")"]), min_size=len(digits), max_size=len(digits))
    )
    text = "".join(d + s for d, s in zip(digits, separators, strict=True))
    if draw(st.booleans()):
        text = "+" + text
    region = draw(st.sampled_from(REGIONS))
    return text, region


@settings(max_examples=2000, deadline=None)
@given(typed_numbers())
def test_generated_numbers(case: tuple[str, str]) -> None:
    text, region = case
    assert ours(text, region) == reference(text, region)


@pytest.mark.parametrize(
    "text", ["12", "1-2", "+12", "٠٩١٢٣٤٥٦٧٨", "0912 345 678 ext. 12", "tel:+886-912-345-678", " 0912345678"]
)
def test_outside_the_common_case_takes_the_slow_path(text: str) -> None:
    assert ours(text, "TW") == reference(text, "TW")
