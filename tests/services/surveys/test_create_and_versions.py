"""crm.surveys.create / update: question checks, locales, versioning once responses exist."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from clinic_crm import ClinicCRM, Conflict, InvalidAnswer, NotFound, Question, ValidationError
from clinic_crm.models import Clinic, Survey
from tests.conftest import T0, count_rows
from tests.services.surveys.conftest import QUESTIONS, VisitFactory


def test_create_stores_questions_and_version_1(crm: ClinicCRM, survey: Survey, sclinic: Clinic) -> None:
    assert survey.id is not None and survey.version == 1 and survey.clinic_id == sclinic.id
    again = crm.surveys.get(survey.id)
    assert again.name == "After your visit"
    assert again.question_list == QUESTIONS
    assert again.question_list[0].text_for("zh_TW") == "您會推薦我們嗎？"
    assert again.question_list[0].text_for("en_GB") == "Would you recommend us?"
    assert again.question_list[0].text_for("fr") == "Would you recommend us?"
    assert again.question_list[2].options == ("yes", "no", "maybe")


def test_question_is_importable_and_accepts_dicts(crm: ClinicCRM, sclinic: Clinic) -> None:
    assert sclinic.id is not None
    survey = crm.surveys.create(
        sclinic.id, name="dicts", questions=[{"key": "q", "type": "rating", "text": "How?", "required": False}]
    )
    assert survey.question_list == [Question("q", "rating", "How?", required=False)]


def test_question_keys_beyond_identifiers(crm: ClinicCRM, sclinic: Clinic) -> None:
    keys = ["q1", "1", "overall-rating", "section.2", "滿意度"]
    survey = crm.surveys.create(sclinic.id, name="keys", questions=[Question(k, "rating", "How?") for k in keys])  # type: ignore[arg-type]
    assert [q.key for q in survey.question_list] == keys


BAD_QUESTIONS: list[tuple[list[Any], str]] = [
    ([], "questions"),
    ("recommend", "questions"),
    ([Question("-abc", "nps", "x")], "questions[0].key"),
    ([Question("a/b", "nps", "x")], "questions[0].key"),
    ([Question("has space", "nps", "x")], "questions[0].key"),
    ([Question("", "nps", "x")], "questions[0].key"),
    ([Question("k" * 101, "nps", "x")], "questions[0].key"),
    ([Question("q", "stars", "x")], "questions[q].type"),
    ([Question("q", "nps", "")], "questions[q].text"),
    ([Question("q", "nps", "   ")], "questions[q].text"),
    ([Question("q", "nps", {})], "questions[q].text"),
    ([Question("q", "nps", {"xx_YY_ZZ": "hi"})], "questions[q].text"),
    ([Question("q", "nps", {"zh-TW": "hi"})], "questions[q].text"),
    ([Question("q", "nps", {"en": ""})], "questions[q].text[en]"),
    ([Question("q", "nps", 5)], "questions[q].text"),  # type: ignore[arg-type]
    ([Question("q", "choice", "x")], "questions[q].options"),
    ([Question("q", "choice", "x", options=[])], "questions[q].options"),
    ([Question("q", "choice", "x", options=["a", "a"])], "questions[q].options"),
    ([Question("q", "choice", "x", options="ab")], "questions[q].options"),
    ([Question("q", "choice", "x", options=["a", ""])], "questions[q].options"),
    ([Question("q", "nps", "x", options=["a"])], "questions[q].options"),
    ([Question("q", "nps", "x", required="yes")], "questions[q].required"),  # type: ignore[arg-type]
    ([Question("q", "nps", "x"), Question("q", "text", "y")], "questions[q]"),
    ([{"key": "q", "type": "nps"}], "questions[0]"),
    ([42], "questions[0]"),
]


def test_bad_questions_are_rejected_with_the_field_and_nothing_written(crm: ClinicCRM, sclinic: Clinic) -> None:
    assert sclinic.id is not None
    for questions, field in BAD_QUESTIONS:
        with pytest.raises(ValidationError) as info:
            crm.surveys.create(sclinic.id, name="bad", questions=questions)
        assert info.value.field == field, questions
        assert count_rows(crm, "survey") == 0


def test_bad_name_and_unknown_clinic(crm: ClinicCRM, sclinic: Clinic) -> None:
    assert sclinic.id is not None
    with pytest.raises(ValidationError) as info:
        crm.surveys.create(sclinic.id, name="  ", questions=QUESTIONS)
    assert info.value.field == "name"
    with pytest.raises(NotFound):
        crm.surveys.create(sclinic.id + 1000, name="x", questions=QUESTIONS)
    assert count_rows(crm, "survey") == 0


def test_same_name_again_makes_the_next_version(crm: ClinicCRM, survey: Survey) -> None:
    again = crm.surveys.create(survey.clinic_id, name=survey.name, questions=QUESTIONS[:1])
    assert again.id != survey.id and (again.name, again.version) == (survey.name, 2)
    assert crm.surveys.get(survey.id).question_list == QUESTIONS  # type: ignore[arg-type]
    assert crm.surveys.latest(survey.clinic_id, survey.name).id == again.id
    assert count_rows(crm, "survey") == 2


def test_update_without_responses_changes_the_version_in_place(crm: ClinicCRM, survey: Survey) -> None:
    assert survey.id is not None
    updated = crm.surveys.update(survey.id, questions=QUESTIONS[:2])
    assert (updated.id, updated.version) == (survey.id, 1)
    assert crm.surveys.get(survey.id).question_list == QUESTIONS[:2]
    assert count_rows(crm, "survey") == 1


def test_update_with_responses_makes_a_new_version_and_old_responses_keep_their_meaning(
    crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory
) -> None:
    assert survey.id is not None
    first, second = completed_visit(), completed_visit()
    assert first.id is not None and second.id is not None
    inv1 = crm.surveys.invite(survey.id, visit_id=first.id, at=T0)
    inv2 = crm.surveys.invite(survey.id, visit_id=second.id, at=T0)  # pending on version 1
    crm.surveys.submit(inv1.token, {"recommend": 9, "overall": 5, "again": "yes"}, at=T0 + timedelta(hours=1))

    new_questions = [Question("recommend", "nps", "Recommend?"), Question("waiting", "rating", "Waiting time?")]
    v2 = crm.surveys.update(survey.id, questions=new_questions)
    assert v2.id != survey.id and v2.version == 2 and v2.name == survey.name and v2.clinic_id == survey.clinic_id
    assert crm.surveys.get(survey.id).question_list == QUESTIONS  # untouched
    assert crm.surveys.latest(survey.clinic_id, survey.name).id == v2.id

    # the pending invitation still answers version 1's questions
    with pytest.raises(InvalidAnswer) as info:
        crm.surveys.submit(inv2.token, {"recommend": 9, "overall": 4, "waiting": 3}, at=T0 + timedelta(hours=2))
    assert info.value.field == "waiting"
    response = crm.surveys.submit(inv2.token, {"recommend": 9, "overall": 4}, at=T0 + timedelta(hours=2))
    assert response.survey_id == survey.id

    # an older version cannot be updated any more; the newest can
    with pytest.raises(Conflict):
        crm.surveys.update(survey.id, questions=new_questions)
    assert count_rows(crm, "survey") == 2
    assert crm.surveys.new_version(v2.id, questions=new_questions).id == v2.id  # identical: nothing new
    assert count_rows(crm, "survey") == 2


def test_identical_questions_make_no_new_version(crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory) -> None:
    assert survey.id is not None
    visit = completed_visit()
    assert visit.id is not None
    inv = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0)
    crm.surveys.submit(inv.token, {"recommend": 10, "overall": 5}, at=T0 + timedelta(hours=1))
    assert crm.surveys.update(survey.id, questions=QUESTIONS).id == survey.id
    assert count_rows(crm, "survey") == 1


def test_update_rejects_bad_questions_and_unknown_survey(crm: ClinicCRM, survey: Survey) -> None:
    assert survey.id is not None
    with pytest.raises(ValidationError):
        crm.surveys.update(survey.id, questions=[])
    with pytest.raises(NotFound):
        crm.surveys.update(survey.id + 99, questions=QUESTIONS)
    with pytest.raises(NotFound):
        crm.surveys.latest(survey.clinic_id, "no such survey")
    assert crm.surveys.get(survey.id).question_list == QUESTIONS


def test_question_is_hashable_and_frozen() -> None:
    q = Question("q", "nps", {"en": "a", "zh_TW": "b"})
    assert hash(q) == hash(Question("q", "nps", {"zh_TW": "b", "en": "a"}))
    with pytest.raises(AttributeError):
        q.key = "other"  # type: ignore[misc]
