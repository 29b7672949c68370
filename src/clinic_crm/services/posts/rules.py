"""The pure rules of scheduled posts: what a post's text may be, which text a channel gets, which changes are legal."""

from __future__ import annotations

import re
from collections.abc import Mapping

from clinic_crm.errors import InvalidTransition, ValidationError
from clinic_crm.messaging.render import locale_candidates
from clinic_crm.values import check_locale, clean_text

__all__ = [
    "TEXT_MAX",
    "check_channel",
    "check_post_text",
    "choose_text",
    "check_release",
    "check_cancel",
]

#: The longest text of one post (per locale), in characters.
TEXT_MAX = 10_000

_CHANNEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,49}$")


def check_channel(value: object) -> str:
    """A channel name: 1–50 letters, digits, ``_ . : -`` starting with a letter or digit (``"website"``).

    Raises:
        ValidationError: ``.field == "channel"``.
    """
    if not isinstance(value, str) or not _CHANNEL.match(value):
        raise ValidationError(
            "channel must be a short name (1-50 letters, digits, '_', '.', ':' or '-'), such as 'website'",
            field="channel",
        )
    return value


def check_post_text(value: object) -> str | dict[str, str]:
    """A post's text: a non-empty str, or a non-empty ``{locale: str}`` with Babel locale ids; NFC, trimmed.

    Raises:
        ValidationError: ``.field == "text"`` (a bad locale, an empty or too long text, control characters).
    """
    if isinstance(value, str):
        return clean_text(value, "text", max_length=TEXT_MAX, allowed_controls="\n\t")
    if not isinstance(value, Mapping) or not value:
        raise ValidationError("text must be a string or a non-empty {locale: text} mapping", field="text")
    texts: dict[str, str] = {}
    for locale, text in value.items():
        texts[check_locale(locale, "text")] = clean_text(text, "text", max_length=TEXT_MAX, allowed_controls="\n\t")
    return texts


def choose_text(text: str | Mapping[str, str], clinic_locale: str) -> tuple[str, str]:
    """The ``(locale, text)`` a channel gets: the clinic's locale, else the text's only locale.

    A str is in the clinic's locale.  A mapping gives the clinic's locale or its nearest parent
    (``zh_Hant_TW`` → ``zh_TW`` → ``zh``), else its only locale, else (several locales, none of the clinic's —
    the clinic changed its locale after scheduling) the first locale in alphabetical order.
    """
    if isinstance(text, str):
        return clinic_locale, text
    for candidate in locale_candidates(clinic_locale):
        if candidate in text:
            return candidate, text[candidate]
    first = sorted(text)[0]
    return first, text[first]


def check_release(status: str) -> None:
    """Only a ``"held"`` post can be released.

    Raises:
        InvalidTransition: any other status.
    """
    if status != "held":
        raise InvalidTransition(f"only a held post can be released; this one is {status}")


def check_cancel(status: str) -> None:
    """Only a ``"scheduled"`` or ``"held"`` post can be cancelled.

    Raises:
        InvalidTransition: a published, failed or cancelled post.
    """
    if status not in ("scheduled", "held"):
        raise InvalidTransition(f"only a scheduled or held post can be cancelled; this one is {status}")
