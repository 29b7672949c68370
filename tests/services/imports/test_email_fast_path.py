"""values.normalize_email's cached fast path gives exactly what email_validator gives (no database)."""

from __future__ import annotations

import pytest
from email_validator import EmailNotValidError, validate_email
from hypothesis import example, given, settings
from hypothesis import strategies as st

from clinic_crm.errors import InvalidEmail
from clinic_crm.values import normalize_email

LOCAL_CHARS = st.sampled_from(list("abcXYZ019.!#$%&'*+/=?^_`{|}~-\"\\ @<>()[],;:") + ["é", "王", "\u0301", "\x00"])
DOMAINS = st.sampled_from(
    [
        "example.com",
        "EXAMPLE.com.tw",
        "gmail.com",
        "xn--fsq.com",
        "例え.jp",
        "localhost",
        "test",
        "a..b",
        "-a.com",
        "[127.0.0.1]",
        "e.x.a.m.p.l.e",
        "ex ample.com",
        "example.com>",
        "x" * 64 + ".com",
        "a." + "b" * 240 + ".com",
        "",
    ]
)


def reference(address: str) -> str | None:
    try:
        return str(validate_email(address, check_deliverability=False).normalized)
    except EmailNotValidError:
        return None


def ours(address: str) -> str | None:
    try:
        return normalize_email(address)
    except InvalidEmail:
        return None


@settings(max_examples=400, deadline=None)
@given(local=st.text(LOCAL_CHARS, max_size=70), domain=DOMAINS)
@example(local="Postmaster", domain="example.com")
@example(local="a" * 64, domain="b" * 63 + "." + "c" * 63 + "." + "d" * 63 + ".com")
@example(local="Ming.Wang", domain="Example.COM")
def test_same_result_as_email_validator(local: str, domain: str) -> None:
    address = f"{local}@{domain}"
    assert ours(address) == reference(address)


@settings(max_examples=200, deadline=None)
@given(st.emails())
def test_generated_addresses(address: str) -> None:
    assert ours(address) == reference(address)


def test_invalid_keeps_value_out_of_message() -> None:
    with pytest.raises(InvalidEmail) as info:
        normalize_email("ming@@example.com")
    assert info.value.value == "ming@@example.com" and "ming" not in str(info.value)
