"""Hypothesis: checked questions survive storage unchanged, and checking is idempotent."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from clinic_crm import Question
from clinic_crm.services.surveys.questions import check_questions

KEYS = st.text(alphabet=string.ascii_letters + "_", min_size=1, max_size=20)
WORDING = st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=50).filter(
    lambda s: s.strip() != ""
)
OPTION = (
    st.text(alphabet=string.ascii_letters + string.digits + " -", min_size=1, max_size=20).map(str.strip).filter(bool)
)
TEXTS = st.one_of(WORDING, st.dictionaries(st.sampled_from(["en", "zh_TW", "ja", "en_US"]), WORDING, min_size=1))


@st.composite
def questions(draw: st.DrawFn) -> list[Question]:
    keys = draw(st.lists(KEYS, min_size=1, max_size=6, unique=True))
    result = []
    for key in keys:
        kind = draw(st.sampled_from(["nps", "rating", "choice", "text"]))
        options = draw(st.lists(OPTION, min_size=1, max_size=5, unique=True)) if kind == "choice" else None
        result.append(Question(key, kind, draw(TEXTS), options=options, required=draw(st.booleans())))
    return result


@given(questions())
def test_check_is_idempotent_and_round_trips_through_storage(items: list[Question]) -> None:
    checked = check_questions(items)
    assert [q.key for q in checked] == [q.key for q in items]
    assert check_questions(checked) == checked
    stored = [q.to_dict() for q in checked]
    assert [Question.from_dict(d) for d in stored] == checked
    assert [hash(q) for q in check_questions(stored)] == [hash(q) for q in checked]
