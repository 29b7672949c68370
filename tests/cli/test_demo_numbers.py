"""The demo's phone numbers come from ranges reserved for fiction (or the documented Taiwanese blocks)."""

from __future__ import annotations

import random
import re

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm.demo.clinic import FICTIONAL_AU, _phone

ALLOWED = [
    re.compile(r"\+886912345\d{3}"),  # TW mobile: the block around phonenumbers' example (no fiction range in TW)
    re.compile(r"\+886221234\d{3}"),  # TW home line, likewise
    re.compile(r"\+1\d{3}55501\d{2}"),  # NANP 555-0100…0199
    re.compile(r"\+61491(" + "|".join(n[5:].replace(" ", "") for n in FICTIONAL_AU) + ")"),  # ACMA's list
]


@given(st.integers(min_value=0, max_value=2**32))
def test_every_demo_number_is_fictional_and_valid(seed: int) -> None:
    rng = random.Random(seed)
    for _ in range(50):
        text = _phone(rng)
        if text is None:
            continue
        number = phonenumbers.parse(text, "TW")
        assert phonenumbers.is_valid_number(number), "the library refuses invalid numbers"
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        assert any(pattern.fullmatch(e164) for pattern in ALLOWED), e164


@pytest.mark.parametrize("text", ["07700 900000", "07700 900999"])
def test_the_uk_drama_range_is_refused_by_phonenumbers(text: str) -> None:
    """Why the demo has no UK numbers: Ofcom's drama range does not validate, so register() would refuse it."""
    assert not phonenumbers.is_valid_number(phonenumbers.parse(text, "GB"))
