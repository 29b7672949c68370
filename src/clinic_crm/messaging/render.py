"""Rendering reminder messages: built-in templates per kind × locale, clinic overrides, Babel formats.

A template is ``str.format`` text that may use only these fields (all plain strings):

* ``{name}``    the patient's display name, ordered for their locale
* ``{clinic}``  the clinic's name
* ``{date}``, ``{time}``  the visit's date and time in the patient's time zone, formatted by
  Babel for the patient's locale (for a reminder without a visit, the instant ``payload["date_at"]``
  when it has one, e.g. the answer-by date of an acknowledged feedback case; else empty)
* ``{url}``     the survey link of a survey invitation (``payload["url"]``)
* ``{survey}``  the survey's name (``payload["survey_name"]``)
* ``{opt_out}`` the opt-out line of the channel and locale
* ``{notice}``  the text of an incident notice (``payload["notice"]``, a crisis statement to patients)
* ``{event}``, ``{place}``  an event's title (in the patient's locale when it has several) and location,
  from the event snapshot of an event reminder's payload (``payload["event"]``), whose start then gives
  ``{date}`` and ``{time}``

Nothing else about the patient (notes, other patients, contact data) reaches a template.
Marketing messages always carry the opt-out line: it is appended when the template does
not contain it.

Built-in texts live in ``messaging/templates/<locale>.json`` (``en`` and ``zh_TW``); a
locale without its own file falls back to a file of the same language, then to ``en``.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from babel import Locale
from babel.dates import format_date, format_time

from clinic_crm.errors import ValidationError
from clinic_crm.values import zone

__all__ = [
    "FIELDS",
    "BUILTIN_KINDS",
    "Rendered",
    "TemplateText",
    "check_template_text",
    "builtin_locales",
    "builtin_template",
    "locale_candidates",
    "opt_out_line",
    "message_fields",
    "localized",
    "render_message",
]

#: The fields a template may use.
FIELDS = ("name", "clinic", "date", "time", "url", "survey", "opt_out", "notice", "event", "place")

#: Kinds with a built-in text; any other kind uses its ``fallback`` (``recall``, ``greeting``…) or ``default``.
BUILTIN_KINDS = (
    "appointment",
    "recall",
    "birthday",
    "greeting",
    "survey",
    "incident_notice",
    "event_invitation",
    "event_reminder",
    "event_changed",
    "event_cancelled",
    "default",
)


@dataclass(frozen=True, slots=True)
class TemplateText:
    """The text of one template: ``body`` and, for e-mail, ``subject``."""

    body: str
    subject: str | None = None


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered message: ``subject`` (e-mail only) and ``body``."""

    subject: str | None
    body: str


def check_template_text(text: object, field: str, *, max_length: int = 4000) -> str:
    """Return ``text`` if it is ``str.format`` text using only :data:`FIELDS`, else raise ``ValidationError``.

    Attribute and index access (``{name.upper}``, ``{url[0]}``) and positional fields are rejected.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValidationError(f"{field} must be a non-empty string", field=field)
    if len(text) > max_length or "\x00" in text:
        raise ValidationError(f"{field} must be at most {max_length} characters, without NUL", field=field)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValidationError(f"{field} is not valid template text (unbalanced braces?)", field=field) from exc
    for _literal, name, spec, _conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS or spec:
            raise ValidationError(
                f"{field} may only use the fields {{{'}, {'.join(FIELDS)}}} without format specs", field=field
            )
    return text


@lru_cache(maxsize=1024)
def _checked(text: str, field: str) -> str:
    return check_template_text(text, field)


@lru_cache(maxsize=16)
def _load(locale: str) -> dict[str, dict[str, str]]:
    source = resources.files("clinic_crm.messaging").joinpath("templates", f"{locale}.json")
    data: dict[str, dict[str, str]] = json.loads(source.read_text(encoding="utf-8"))
    return data


@lru_cache(maxsize=1)
def builtin_locales() -> tuple[str, ...]:
    """The locales with built-in templates (``("en", "zh_TW")``)."""
    folder = resources.files("clinic_crm.messaging").joinpath("templates")
    return tuple(sorted(p.name[: -len(".json")] for p in folder.iterdir() if p.name.endswith(".json")))


@lru_cache(maxsize=256)
def _babel_locale(locale: str) -> Locale:
    return Locale.parse(locale)


@lru_cache(maxsize=256)
def locale_candidates(locale: str) -> tuple[str, ...]:
    """The locale ids to try, most specific first: ``zh_Hant_TW`` → ``zh_Hant_TW, zh_TW, zh``."""
    parsed = _babel_locale(locale)
    found = [locale]
    if parsed.territory:
        found.append(f"{parsed.language}_{parsed.territory}")
    found.append(parsed.language)
    return tuple(dict.fromkeys(found))


@lru_cache(maxsize=256)
def _builtin_locale(locale: str) -> str:
    available = builtin_locales()
    for candidate in locale_candidates(locale):
        if candidate in available:
            return candidate
    language = _babel_locale(locale).language
    same_language = [name for name in available if name.split("_")[0] == language]
    return same_language[0] if same_language else "en"


def builtin_template(kind: str, channel: str, locale: str) -> TemplateText:
    """The built-in text for ``kind`` (one of :data:`BUILTIN_KINDS`), channel and locale."""
    texts = _load(_builtin_locale(locale))[kind]
    if channel == "email":
        return TemplateText(body=texts["email"], subject=texts["email_subject"])
    return TemplateText(body=texts["sms"])


@lru_cache(maxsize=256)
def opt_out_line(channel: str, locale: str) -> str:
    """The opt-out line of a channel in a locale (``"Reply STOP to opt out."``)."""
    return _load(_builtin_locale(locale))["opt_out"][channel]


def message_fields(
    *,
    name: str,
    clinic: str,
    locale: str,
    timezone: str,
    channel: str,
    visit_at: datetime | None = None,
    url: str | None = None,
    survey: str | None = None,
    notice: str | None = None,
    event: Mapping[str, Any] | None = None,
) -> dict[str, str]:
    """The values of :data:`FIELDS` for one message; dates and times in the patient's zone and locale.

    ``event`` is the snapshot an event reminder carries (``title``, ``location``, ISO ``starts_at``); its
    start stands in for ``visit_at``.
    """
    date_text = time_text = ""
    title = place = ""
    if event is not None:
        title = localized(event.get("title"), locale)
        place = str(event.get("location") or "")
        start = event.get("starts_at")
        if isinstance(start, str):
            visit_at = datetime.fromisoformat(start)
    if visit_at is not None:
        date_text, time_text = _visit_texts(visit_at, timezone, locale)
    return {
        "name": name,
        "clinic": clinic,
        "date": date_text,
        "time": time_text,
        "url": url or "",
        "survey": survey or "",
        "opt_out": opt_out_line(channel, locale),
        "notice": notice or "",
        "event": title,
        "place": place,
    }


def localized(text: object, locale: str) -> str:
    """A text in ``locale``: a str as it is; from a ``{locale: str}`` dict the best candidate, else its first entry."""
    if isinstance(text, str):
        return text
    if isinstance(text, Mapping) and text:
        for candidate in locale_candidates(locale):
            found = text.get(candidate)
            if isinstance(found, str):
                return found
        language = locale.split("_")[0]
        for key, value in text.items():
            if str(key).split("_")[0] == language and isinstance(value, str):
                return value
        first = next(iter(text.values()))
        return first if isinstance(first, str) else ""
    return ""


def _visit_texts(visit_at: datetime, timezone: str, locale: str) -> tuple[str, str]:
    """The visit's local date (Babel ``full``) and time (Babel ``short``) for the patient.

    Babel's formatting costs tens of microseconds, and a batch holds many visits on the same days
    and at the same times of day: both texts are cached on exactly what they depend on.
    """
    local = visit_at.astimezone(zone(timezone))
    date_text = _date_text(local.date(), locale)
    time_text = _time_text(local.replace(tzinfo=None), local.utcoffset(), timezone, locale)
    return date_text, time_text


@lru_cache(maxsize=4096)
def _date_text(day: date, locale: str) -> str:
    return format_date(day, format="full", locale=_babel_locale(locale))


@lru_cache(maxsize=4096)
def _time_text(wall: datetime, offset: timedelta | None, timezone: str, locale: str) -> str:
    # keyed on the local wall time and its offset in that zone (which tells the two readings of a
    # repeated hour apart), so the cached text is the one Babel gives for this very instant
    tz = zone(timezone)
    instant = wall.replace(tzinfo=tz, fold=0)
    if instant.utcoffset() != offset:
        instant = wall.replace(tzinfo=tz, fold=1)
    return format_time(instant, format="short", tzinfo=tz, locale=_babel_locale(locale))


def render_message(
    *,
    kind: str,
    channel: str,
    locale: str,
    purpose: str,
    fields: Mapping[str, str],
    fallback: str = "default",
    override: TemplateText | None = None,
) -> Rendered:
    """Render one message.

    Args:
        kind: the reminder kind; a built-in text is used when one exists for it.
        channel: ``"sms"`` or ``"email"``.
        locale: the patient's Babel locale id.
        purpose: ``"care"`` or ``"marketing"`` (marketing always carries the opt-out line).
        fields: the values from :func:`message_fields`.
        fallback: the built-in kind used when ``kind`` has none.
        override: a clinic's own text, used instead of the built-in one (its missing subject is taken
            from the built-in text).
    """
    body_text, subject_text = _texts(kind, channel, locale, fallback, override)
    values = {key: fields.get(key, "") for key in FIELDS}
    body = body_text.format_map(values).strip()
    if purpose == "marketing" and values["opt_out"] not in body:
        body = f"{body}\n{values['opt_out']}"
    subject = None
    if subject_text is not None:
        subject = subject_text.format_map(values).strip()
    return Rendered(subject=subject, body=body)


@lru_cache(maxsize=1024)
def _texts(
    kind: str, channel: str, locale: str, fallback: str, override: TemplateText | None
) -> tuple[str, str | None]:
    """The checked body text and (e-mail only) subject text :func:`render_message` formats."""
    builtin = builtin_template(kind if kind in BUILTIN_KINDS else fallback, channel, locale)
    body_text = override.body if override is not None else builtin.body
    subject_text = (override.subject if override is not None else None) or builtin.subject
    subject = _checked(subject_text, "subject") if channel == "email" and subject_text is not None else None
    return _checked(body_text, "body"), subject
