"""The pure rules of scheduled posts: channel names, texts by locale, which text a channel gets, transitions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.models.posts import POST_STATUSES
from clinic_crm.services.posts.rules import (
    TEXT_MAX,
    check_cancel,
    check_channel,
    check_post_text,
    check_release,
    choose_text,
)

LOCALES = ["zh_TW", "en_US", "en", "ja_JP", "zh_Hant_TW", "de"]


@pytest.mark.parametrize("name", ["website", "facebook", "line:official", "ig.story", "x", "A" * 50])
def test_good_channel_names(name: str) -> None:
    assert check_channel(name) == name


@pytest.mark.parametrize("name", ["", " website", "web site", "-web", "A" * 51, "網站", None, 3])
def test_bad_channel_names(name: object) -> None:
    with pytest.raises(ValidationError) as info:
        check_channel(name)
    assert info.value.field == "channel"


def test_text_is_trimmed_and_keeps_new_lines() -> None:
    assert check_post_text("  Line one\nLine two\t ") == "Line one\nLine two"
    assert check_post_text({"en": " hi "}) == {"en": "hi"}
    assert check_post_text("x" * TEXT_MAX) == "x" * TEXT_MAX


@given(st.dictionaries(st.sampled_from(LOCALES), st.text(min_size=1).filter(str.strip), min_size=1))
def test_any_locale_mapping_of_non_blank_texts_is_accepted_or_refused_on_text(texts: dict[str, str]) -> None:
    try:
        checked = check_post_text(texts)
    except ValidationError as exc:
        assert exc.field == "text"
    else:
        assert isinstance(checked, dict) and set(checked) == set(texts)


@given(st.sampled_from(LOCALES), st.text(min_size=1, max_size=20))
def test_a_plain_text_is_in_the_clinics_locale(locale: str, text: str) -> None:
    assert choose_text(text, locale) == (locale, text)


@given(st.dictionaries(st.sampled_from(LOCALES), st.text(min_size=1, max_size=5), min_size=1), st.sampled_from(LOCALES))
def test_choose_text_prefers_the_clinics_locale_then_the_only_one(texts: dict[str, str], clinic: str) -> None:
    locale, text = choose_text(texts, clinic)
    assert texts[locale] == text
    if clinic in texts:
        assert locale == clinic
    elif len(texts) == 1:
        assert locale == next(iter(texts))


def test_choose_text_falls_back_to_the_parent_locale() -> None:
    assert choose_text({"zh_TW": "中", "en": "en"}, "zh_Hant_TW") == ("zh_TW", "中")
    assert choose_text({"zh": "中", "en": "en"}, "zh_TW") == ("zh", "中")
    assert choose_text({"ja": "日", "en": "en"}, "zh_TW") == ("en", "en")  # none of the clinic's: alphabetical


@pytest.mark.parametrize("status", POST_STATUSES)
def test_transitions(status: str) -> None:
    if status == "held":
        check_release(status)
    else:
        with pytest.raises(InvalidTransition):
            check_release(status)
    if status in ("scheduled", "held"):
        check_cancel(status)
    else:
        with pytest.raises(InvalidTransition):
            check_cancel(status)
