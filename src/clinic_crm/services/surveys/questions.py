"""Checking survey questions (at ``create``) and answers (at ``submit``).

Both raise before anything is written: ``ValidationError`` naming the question for a bad
question, ``InvalidAnswer`` whose ``.field`` is the question key for a bad answer.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from clinic_crm.errors import InvalidAnswer, ValidationError
from clinic_crm.surveys_types import NPS_RANGE, QUESTION_TYPES, RATING_RANGE, TEXT_ANSWER_MAX, Question
from clinic_crm.values import check_locale, clean_text

__all__ = ["check_questions", "check_answers", "CheckedAnswer", "KEY_MAX", "QUESTION_TEXT_MAX", "OPTION_MAX"]

KEY_MAX = 100
QUESTION_TEXT_MAX = 1000
OPTION_MAX = 200
QUESTIONS_MAX = 100
_KEY_RE = re.compile(r"\w[\w.\-]*\Z")  # "recommend", "q1", "1", "overall-rating", "滿意度"


def _plain_text(value: object, field: str, max_length: int) -> str:
    """A non-empty NFC string without control characters other than newline and tab."""
    return clean_text(value, field, max_length=max_length, allowed_controls="\n\t")


def _check_question(item: object, index: int) -> Question:
    where = f"questions[{index}]"
    if isinstance(item, Mapping):
        unknown = set(item) - {"key", "type", "text", "options", "required"}
        if unknown or not {"key", "type", "text"} <= set(item):
            raise ValidationError(f"{where} must have key, type, text and optionally options, required", field=where)
        item = Question.from_dict(item)
    if not isinstance(item, Question):
        raise ValidationError(f"{where} must be a clinic_crm.Question", field=where)
    key = item.key
    if not isinstance(key, str) or not _KEY_RE.match(key) or len(key) > KEY_MAX:
        raise ValidationError(
            f"{where}.key must be letters, digits, '_', '-' or '.', starting with a letter, digit or '_', "
            f"at most {KEY_MAX} characters",
            field=f"{where}.key",
        )
    where = f"questions[{key}]"
    if item.type not in QUESTION_TYPES:
        raise ValidationError(f"{where}.type must be one of {', '.join(QUESTION_TYPES)}", field=f"{where}.type")
    text: str | dict[str, str]
    if isinstance(item.text, str):
        text = _plain_text(item.text, f"{where}.text", QUESTION_TEXT_MAX)
    elif isinstance(item.text, Mapping):
        if not item.text:
            raise ValidationError(f"{where}.text must not be an empty dict", field=f"{where}.text")
        text = {}
        for locale, wording in item.text.items():
            check_locale(locale, f"{where}.text")
            text[locale] = _plain_text(wording, f"{where}.text[{locale}]", QUESTION_TEXT_MAX)
    else:
        raise ValidationError(f"{where}.text must be a str or a {{locale: str}} dict", field=f"{where}.text")
    options: tuple[str, ...] | None = None
    if item.type == "choice":
        raw = item.options
        if raw is None or isinstance(raw, str | bytes) or not isinstance(raw, Iterable):
            raise ValidationError(f"{where}.options must be a non-empty list of strings", field=f"{where}.options")
        options = tuple(_plain_text(o, f"{where}.options", OPTION_MAX) for o in raw)
        if not options:
            raise ValidationError(f"{where}.options must be a non-empty list of strings", field=f"{where}.options")
        if len(set(options)) != len(options):
            raise ValidationError(f"{where}.options must be unique", field=f"{where}.options")
    elif item.options is not None:
        raise ValidationError(f"{where}.options is only for 'choice' questions", field=f"{where}.options")
    if not isinstance(item.required, bool):
        raise ValidationError(f"{where}.required must be True or False", field=f"{where}.required")
    return Question(key=key, type=item.type, text=text, options=options, required=item.required)


def check_questions(questions: object) -> list[Question]:
    """Return the questions checked and normalised (texts NFC and trimmed, options as tuples).

    Args:
        questions: a non-empty sequence of ``Question`` (or their ``to_dict()`` form).

    Raises:
        ValidationError: ``.field`` names the question (``"questions[recommend].options"``).
    """
    if isinstance(questions, str | bytes | Mapping) or not isinstance(questions, Iterable):
        raise ValidationError("questions must be a non-empty list of Question", field="questions")
    checked = [_check_question(item, i) for i, item in enumerate(questions)]
    if not checked:
        raise ValidationError("questions must be a non-empty list of Question", field="questions")
    if len(checked) > QUESTIONS_MAX:
        raise ValidationError(f"a survey has at most {QUESTIONS_MAX} questions", field="questions")
    seen: set[str] = set()
    for question in checked:
        if question.key in seen:
            raise ValidationError(f"question key {question.key!r} is used twice", field=f"questions[{question.key}]")
        seen.add(question.key)
    return checked


@dataclass(frozen=True)
class CheckedAnswer:
    """One valid answer, typed as the ``answer`` table keeps it."""

    key: str
    type: str
    int_value: int | None
    text_value: str | None

    @property
    def value(self) -> int | str:
        """The answer as the respondent gave it (normalised)."""
        if self.int_value is not None:
            return self.int_value
        assert self.text_value is not None
        return self.text_value


def _blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_int(question: Question, value: object, bounds: tuple[int, int]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidAnswer(
            f"the answer to {question.key!r} must be a whole number from {low} to {high}", field=question.key
        )
    if not low <= value <= high:
        raise InvalidAnswer(f"the answer to {question.key!r} must be from {low} to {high}", field=question.key)
    return int(value)


def _check_text(question: Question, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidAnswer(f"the answer to {question.key!r} must be text", field=question.key)
    if "\x00" in value or any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise InvalidAnswer(
            f"the answer to {question.key!r} must be valid text without NUL characters", field=question.key
        )
    text = unicodedata.normalize("NFC", value).strip()
    if len(text) > TEXT_ANSWER_MAX:
        raise InvalidAnswer(
            f"the answer to {question.key!r} must be at most {TEXT_ANSWER_MAX} characters", field=question.key
        )
    return text


def check_answers(questions: list[Question], answers: object) -> list[CheckedAnswer]:
    """Check a response's answers against the survey's questions; return the given ones, in question order.

    Rules: every key must be a question key; a required question must be answered (``None``
    or a blank text counts as not answered); ``nps`` is an ``int`` 0–10 and ``rating`` an ``int``
    1–5 (``bool`` and ``float`` are not accepted); ``choice`` is one of the options; ``text`` is a
    string of at most 2000 characters without NUL.

    Raises:
        ValidationError: ``answers`` is not a dict (``.field == "answers"``).
        InvalidAnswer: ``.field`` is the offending question key.
    """
    if not isinstance(answers, Mapping):
        raise ValidationError("answers must be a dict of question key to answer", field="answers")
    by_key = {q.key: q for q in questions}
    for key in answers:
        if key not in by_key:
            raise InvalidAnswer(f"{str(key)[:100]!r} is not a question of this survey", field=str(key)[:100])
    checked: list[CheckedAnswer] = []
    for question in questions:
        value: Any = answers.get(question.key)
        if _blank(value):
            if question.required:
                raise InvalidAnswer(f"question {question.key!r} requires an answer", field=question.key)
            continue
        if question.type == "nps":
            checked.append(CheckedAnswer(question.key, "nps", _check_int(question, value, NPS_RANGE), None))
        elif question.type == "rating":
            checked.append(CheckedAnswer(question.key, "rating", _check_int(question, value, RATING_RANGE), None))
        elif question.type == "choice":
            if not isinstance(value, str) or question.options is None or value not in question.options:
                raise InvalidAnswer(f"the answer to {question.key!r} must be one of its options", field=question.key)
            checked.append(CheckedAnswer(question.key, "choice", None, value))
        else:
            checked.append(CheckedAnswer(question.key, "text", None, _check_text(question, value)))
    return checked
