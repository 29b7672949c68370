"""crm.surveys.submit: tokens, every answer check, nothing stored on error, follow-ups opened."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinic_crm import (
    ClinicCRM,
    InvalidAnswer,
    NaiveDatetimeError,
    TokenExpired,
    TokenUsed,
    UnknownToken,
    ValidationError,
)
from clinic_crm.models import Invitation, Survey
from clinic_crm.services.surveys.questions import check_answers
from tests.conftest import T0, count_rows
from tests.services.surveys.conftest import QUESTIONS, VisitFactory

LATER = T0 + timedelta(hours=4)
GOOD = {"recommend": 9, "overall": 5, "again": "yes", "comment": "Friendly staff"}


@pytest.fixture
def invitation(crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory) -> Invitation:
    visit = completed_visit()
    assert survey.id is not None and visit.id is not None
    return crm.surveys.invite(survey.id, visit_id=visit.id, at=T0)


def _nothing_stored(crm: ClinicCRM, invitation: Invitation) -> None:
    assert count_rows(crm, "response") == 0
    assert count_rows(crm, "answer") == 0
    assert count_rows(crm, "follow_up") == 0
    assert invitation.id is not None
    assert crm.surveys.get_invitation(invitation.id).used_at is None


def test_submit_stores_the_response_and_typed_answers(crm: ClinicCRM, invitation: Invitation) -> None:
    response = crm.surveys.submit(invitation.token, dict(GOOD, comment="  Friendly staff \n"), at=LATER)
    assert response.id is not None
    assert response.answered_at == LATER and response.answered_at.tzinfo is not None
    assert (response.survey_id, response.visit_id, response.clinic_id) == (
        invitation.survey_id,
        invitation.visit_id,
        invitation.clinic_id,
    )
    assert response.answers == GOOD
    again = crm.surveys.get_response(response.id)
    assert again.answers == GOOD and again.answered_at == LATER
    assert invitation.id is not None
    assert crm.surveys.get_invitation(invitation.id).used_at == LATER
    with crm.engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT question_key, question_type, int_value, text_value FROM answer ORDER BY id"
        ).all()
    assert [tuple(r) for r in rows] == [
        ("recommend", "nps", 9, None),
        ("overall", "rating", 5, None),
        ("again", "choice", None, "yes"),
        ("comment", "text", None, "Friendly staff"),
    ]
    assert count_rows(crm, "follow_up") == 0


def test_zero_is_a_valid_nps_answer_and_optional_questions_may_be_left_out(
    crm: ClinicCRM, invitation: Invitation
) -> None:
    response = crm.surveys.submit(invitation.token, {"recommend": 0, "overall": 3, "comment": None}, at=LATER)
    assert response.answers == {"recommend": 0, "overall": 3}
    assert count_rows(crm, "answer") == 2


def test_token_used_twice(crm: ClinicCRM, invitation: Invitation) -> None:
    crm.surveys.submit(invitation.token, GOOD, at=LATER)
    with pytest.raises(TokenUsed):
        crm.surveys.submit(invitation.token, GOOD, at=LATER + timedelta(minutes=1))
    with pytest.raises(TokenUsed):  # a used token is reported as used even with bad answers
        crm.surveys.submit(invitation.token, {}, at=LATER)
    assert count_rows(crm, "response") == 1 and count_rows(crm, "answer") == 4


def test_unknown_token(crm: ClinicCRM, invitation: Invitation) -> None:
    for token in ["nope", "", "x" * 500, None, 42, invitation.token[:-1], invitation.token + "x"]:
        with pytest.raises(UnknownToken):
            crm.surveys.submit(token, GOOD, at=LATER)  # type: ignore[arg-type]
    _nothing_stored(crm, invitation)


def test_expiry_boundary(crm: ClinicCRM, invitation: Invitation) -> None:
    assert invitation.expires_at == T0 + timedelta(days=14)
    with pytest.raises(TokenExpired):
        crm.surveys.submit(invitation.token, GOOD, at=invitation.expires_at)
    with pytest.raises(TokenExpired):
        crm.surveys.submit(invitation.token, GOOD, at=invitation.expires_at + timedelta(days=3))
    _nothing_stored(crm, invitation)
    last = invitation.expires_at - timedelta(microseconds=1)
    # the same instant written in another zone is the same instant
    response = crm.surveys.submit(invitation.token, GOOD, at=last.astimezone(timezone(timedelta(hours=8))))
    assert response.answered_at == last


def test_naive_or_early_at(crm: ClinicCRM, invitation: Invitation) -> None:
    with pytest.raises(NaiveDatetimeError):
        crm.surveys.submit(invitation.token, GOOD, at=datetime(2026, 3, 2, 12))
    with pytest.raises(ValidationError) as info:
        crm.surveys.submit(invitation.token, GOOD, at=T0 - timedelta(seconds=1))
    assert info.value.field == "at"
    _nothing_stored(crm, invitation)


BAD_ANSWERS: list[tuple[Any, str]] = [
    ({"overall": 5}, "recommend"),  # required missing
    ({"recommend": None, "overall": 5}, "recommend"),
    ({"recommend": 9}, "overall"),
    ({"recommend": 9, "overall": 5, "bogus": 1}, "bogus"),  # unknown key
    ({"recommend": 11, "overall": 5}, "recommend"),
    ({"recommend": -1, "overall": 5}, "recommend"),
    ({"recommend": True, "overall": 5}, "recommend"),  # bool is not an int
    ({"recommend": False, "overall": 5}, "recommend"),
    ({"recommend": 9.0, "overall": 5}, "recommend"),
    ({"recommend": "9", "overall": 5}, "recommend"),
    ({"recommend": 9, "overall": 0}, "overall"),
    ({"recommend": 9, "overall": 6}, "overall"),
    ({"recommend": 9, "overall": True}, "overall"),
    ({"recommend": 9, "overall": 5, "again": "perhaps"}, "again"),
    ({"recommend": 9, "overall": 5, "again": 1}, "again"),
    ({"recommend": 9, "overall": 5, "again": "YES"}, "again"),
    ({"recommend": 9, "overall": 5, "comment": "x" * 2001}, "comment"),
    ({"recommend": 9, "overall": 5, "comment": "bad\x00byte"}, "comment"),
    ({"recommend": 9, "overall": 5, "comment": "lone \ud800 surrogate"}, "comment"),
    ({"recommend": 9, "overall": 5, "comment": 12}, "comment"),
    ({"recommend": 3, "overall": 1, "comment": "x" * 2001}, "comment"),  # would open a follow-up
]


def test_invalid_answers_name_the_question_and_store_nothing(crm: ClinicCRM, invitation: Invitation) -> None:
    # one database per backend for all cases (each case must leave it untouched)
    for answers, field in BAD_ANSWERS:
        with pytest.raises(InvalidAnswer) as info:
            crm.surveys.submit(invitation.token, answers, at=LATER)
        assert info.value.field == field, answers
        assert field in str(info.value)
        _nothing_stored(crm, invitation)
    # the token is still usable afterwards
    crm.surveys.submit(invitation.token, GOOD, at=LATER)
    assert count_rows(crm, "response") == 1


def test_answers_must_be_a_dict(crm: ClinicCRM, invitation: Invitation) -> None:
    for answers in [None, [("recommend", 9)], "recommend=9"]:
        with pytest.raises(ValidationError) as info:
            crm.surveys.submit(invitation.token, answers, at=LATER)  # type: ignore[arg-type]
        assert info.value.field == "answers"
    _nothing_stored(crm, invitation)


def test_text_at_the_length_limit_is_accepted(crm: ClinicCRM, invitation: Invitation) -> None:
    text = "好" * 2000
    response = crm.surveys.submit(invitation.token, {"recommend": 7, "overall": 4, "comment": text}, at=LATER)
    assert response.answers["comment"] == text


def test_submit_cancels_the_pending_invitation_reminder(crm: ClinicCRM, invitation: Invitation) -> None:
    assert invitation.reminder_id is not None
    crm.surveys.submit(invitation.token, GOOD, at=LATER)
    with crm.engine.connect() as conn:
        status = conn.exec_driver_sql(f"SELECT status FROM reminder WHERE id = {invitation.reminder_id}").scalar_one()
    assert status == "cancelled"


# --- Hypothesis on the answer checks (pure; the same function submit uses) --------------------------------

QUESTION_LIST = QUESTIONS
RANGES = {"recommend": (0, 10), "overall": (1, 5)}


@given(key=st.sampled_from(["recommend", "overall"]), value=st.integers())
def test_any_int_in_range_is_accepted_and_any_outside_rejected(key: str, value: int) -> None:
    answers: dict[str, object] = {"recommend": 8, "overall": 4, key: value}
    low, high = RANGES[key]
    if low <= value <= high:
        checked = {a.key: a.value for a in check_answers(QUESTION_LIST, answers)}
        assert checked[key] == value
    else:
        with pytest.raises(InvalidAnswer) as info:
            check_answers(QUESTION_LIST, answers)
        assert info.value.field == key


@given(
    key=st.sampled_from(["recommend", "overall"]),
    value=st.one_of(st.booleans(), st.floats(), st.text(), st.lists(st.integers()), st.decimals()),
)
def test_non_int_values_are_rejected(key: str, value: object) -> None:
    answers: dict[str, object] = {"recommend": 8, "overall": 4, key: value}
    # a blank string counts as missing, and both questions are required: rejected too
    with pytest.raises(InvalidAnswer) as info:
        check_answers(QUESTION_LIST, answers)
    assert info.value.field == key


@given(text=st.text(max_size=2100))
def test_text_answers(text: str) -> None:
    answers = {"recommend": 8, "overall": 4, "comment": text}
    stripped = text.strip()
    bad = "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)
    too_long = len(unicodedata.normalize("NFC", stripped)) > 2000
    if not stripped:
        assert "comment" not in {a.key for a in check_answers(QUESTION_LIST, answers)}
    elif bad or too_long:
        with pytest.raises(InvalidAnswer):
            check_answers(QUESTION_LIST, answers)
    else:
        checked = {a.key: a.value for a in check_answers(QUESTION_LIST, answers)}
        assert checked["comment"] == unicodedata.normalize("NFC", stripped)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.integers(min_value=-3, max_value=14), st.booleans()))
def test_submit_nps_range_on_the_database(
    crm: ClinicCRM, survey: Survey, completed_visit: VisitFactory, value: int
) -> None:
    visit = completed_visit()
    assert survey.id is not None and visit.id is not None
    inv = crm.surveys.invite(survey.id, visit_id=visit.id, at=T0)
    before = count_rows(crm, "response")
    if isinstance(value, bool) or not 0 <= value <= 10:
        with pytest.raises(InvalidAnswer):
            crm.surveys.submit(inv.token, {"recommend": value, "overall": 4}, at=LATER)
        assert count_rows(crm, "response") == before
    else:
        response = crm.surveys.submit(inv.token, {"recommend": value, "overall": 4}, at=LATER)
        assert response.answers["recommend"] == value
        assert count_rows(crm, "response") == before + 1


def test_utc_round_trip_of_answered_at(crm: ClinicCRM, invitation: Invitation) -> None:
    at = datetime(2026, 3, 2, 23, 30, 15, 123456, tzinfo=UTC)
    response = crm.surveys.submit(invitation.token, GOOD, at=at)
    assert response.id is not None
    assert crm.surveys.get_response(response.id).answered_at == at


def test_submit_inside_a_transaction_that_fails_leaves_the_token_usable(crm: ClinicCRM, invitation: Invitation) -> None:
    with pytest.raises(RuntimeError), crm.transaction() as tx:
        tx.surveys.submit(invitation.token, {"recommend": 2, "overall": 1}, at=LATER)
        assert tx.session is not None
        raise RuntimeError("the host's later step failed")
    _nothing_stored(crm, invitation)
    assert crm.surveys.submit(invitation.token, GOOD, at=LATER).answers == GOOD


def test_failed_submit_inside_a_transaction_rolls_back_only_itself(crm: ClinicCRM, invitation: Invitation) -> None:
    with crm.transaction() as tx:
        with pytest.raises(InvalidAnswer):
            tx.surveys.submit(invitation.token, {"recommend": 99, "overall": 1}, at=LATER)
        tx.surveys.submit(invitation.token, GOOD, at=LATER)
    assert count_rows(crm, "response") == 1 and count_rows(crm, "answer") == 4
