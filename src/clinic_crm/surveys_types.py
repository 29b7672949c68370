"""``Question``: one question of a survey, as callers write it (``from clinic_crm import Question``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Question", "QUESTION_TYPES", "NPS_RANGE", "RATING_RANGE", "TEXT_ANSWER_MAX"]

#: The question types and what an answer to each is.
QUESTION_TYPES = ("nps", "rating", "choice", "text")
#: Inclusive bounds of an ``nps`` answer (0 is a valid answer).
NPS_RANGE = (0, 10)
#: Inclusive bounds of a ``rating`` answer.
RATING_RANGE = (1, 5)
#: The longest free-text answer accepted, in characters.
TEXT_ANSWER_MAX = 2000


@dataclass(frozen=True)
class Question:
    """One survey question.

    Args:
        key: identifier-like and unique within the survey (``"recommend"``); answers are keyed by it.
        type: ``"nps"`` (0–10), ``"rating"`` (1–5), ``"choice"`` (one of ``options``) or ``"text"``.
        text: the wording, a ``str`` or a ``{locale: str}`` dict (``{"en": "…", "zh_TW": "…"}``).
        options: the allowed answers of a ``"choice"`` question (non-empty, unique); ``None`` otherwise.
        required: whether ``submit`` rejects a response without this answer.

    The fields are checked by ``crm.surveys.create`` (``ValidationError`` naming the question),
    not here, so a ``Question`` can be built from any stored data and inspected.
    """

    key: str
    type: str
    text: str | Mapping[str, str]
    options: Sequence[str] | None = None
    required: bool = True

    def __post_init__(self) -> None:
        # a list of options is kept as a tuple, so the question stays immutable
        if isinstance(self.options, list):
            object.__setattr__(self, "options", tuple(self.options))
        if isinstance(self.text, Mapping) and not isinstance(self.text, dict):
            object.__setattr__(self, "text", dict(self.text))

    def __hash__(self) -> int:
        text = self.text if isinstance(self.text, str) else tuple(sorted(self.text.items()))
        options = tuple(self.options) if self.options is not None else None
        return hash((self.key, self.type, text, options, self.required))

    def text_for(self, locale: str | None = None) -> str:
        """The wording in ``locale`` (``"zh_TW"``), falling back to its language (``"zh"``), then ``"en"``, then any."""
        if isinstance(self.text, str):
            return self.text
        if locale:
            if locale in self.text:
                return self.text[locale]
            language = locale.split("_", 1)[0]
            for candidate, wording in self.text.items():
                if candidate == language or candidate.split("_", 1)[0] == language:
                    return wording
        if "en" in self.text:
            return self.text["en"]
        return next(iter(self.text.values()))

    def to_dict(self) -> dict[str, Any]:
        """The JSON-ready form stored in ``Survey.questions``."""
        text: Any = self.text if isinstance(self.text, str) else dict(self.text)
        return {
            "key": self.key,
            "type": self.type,
            "text": text,
            "options": list(self.options) if self.options is not None else None,
            "required": self.required,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Question:
        """Build a question from its stored form (see :meth:`to_dict`)."""
        return cls(
            key=data["key"],
            type=data["type"],
            text=data["text"],
            options=data.get("options"),
            required=data.get("required", True),
        )
