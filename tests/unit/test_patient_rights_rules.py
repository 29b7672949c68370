"""Pure rules of patient rights: name folding, duplicate scores, consent resolution on merge, FHIR code maps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from clinic_crm.models import VISIT_STATUSES
from clinic_crm.models.reminders import REMINDER_STATUSES
from clinic_crm.services.patient_rights.duplicates import fold, name_key, pair_score
from clinic_crm.services.patient_rights.export import APPOINTMENT_STATUS, REQUEST_STATUS
from clinic_crm.services.patient_rights.merge import resolve_consent

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_fold_width_case_accents_spacing() -> None:
    assert fold("ＷＡＮＧ") == "wang"
    assert fold("José  García ") == "jose garcia"
    assert fold("Zoë") == fold("ZOE") == "zoe"
    assert fold("王 小明") == fold("王小明") == "王小明"
    assert fold("Straße") == "strasse"


def test_name_key_cjk_ignores_where_the_names_split() -> None:
    assert name_key("王", "小明") == name_key("王小", "明") == name_key(" 王 ", "小 明")
    assert name_key("Wang", "Ming") != name_key("Ming", "Wang")
    assert name_key("Müller", "Chloé") == name_key("MULLER", "chloe")
    assert name_key("van der Berg", "Anna") == name_key("Van  Der Berg", "ANNA")
    assert name_key("van der Berg", "Anna") != name_key("vanderberg", "Anna")


@given(st.text(max_size=20), st.text(max_size=20))
def test_name_key_is_idempotent_under_folding(family: str, given_name: str) -> None:
    assert name_key(fold(family), fold(given_name)) == name_key(family, given_name)


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyzéüñç", min_size=1, max_size=12))
def test_fold_ignores_case_width_and_accents(name: str) -> None:
    wide = "".join(chr(ord(ch) + 0xFEE0) if "A" <= ch <= "Z" else ch for ch in name.upper())
    assert fold(name) == fold(name.upper()) == fold(wide)
    assert fold(name).isascii()


def test_scores() -> None:
    assert pair_score(True, True, False, False) == (1.0, ("name", "birth_date", "email"))
    assert pair_score(True, False, False, False) == (0.9, ("name", "birth_date"))
    assert pair_score(False, True, False, False) == (0.8, ("name", "email"))
    assert pair_score(True, False, True, False) == (0.95, ("name", "birth_date", "phone"))
    assert pair_score(False, True, True, False) == (0.85, ("name", "email", "phone"))
    assert pair_score(True, True, True, False) == (1.0, ("name", "birth_date", "email", "phone"))


def test_phone_alone_and_different_birth_dates_never_pair() -> None:
    assert pair_score(False, False, True, False) is None
    assert pair_score(False, True, True, True) is None
    assert pair_score(False, False, False, False) is None


@given(st.booleans(), st.booleans(), st.booleans(), st.booleans())
def test_scores_are_between_0_and_1(birth: bool, email: bool, phone: bool, differ: bool) -> None:
    scored = pair_score(birth and not differ, email, phone, differ)
    if scored is not None:
        assert 0 < scored[0] <= 1
        assert scored[1][0] == "name"


def test_consent_latest_explicit_event_wins_and_withdrawal_wins_a_tie() -> None:
    assert resolve_consent([]) is None
    assert resolve_consent([(T, True), (T + timedelta(hours=1), False)]) is False
    assert resolve_consent([(T, False), (T + timedelta(hours=1), True)]) is True
    assert resolve_consent([(T, True), (T, False)]) is False
    assert resolve_consent([(T, False), (T, True)]) is False


@given(st.lists(st.tuples(st.integers(0, 5), st.booleans()), min_size=1, max_size=8))
def test_consent_resolution_is_order_independent(events: list[tuple[int, bool]]) -> None:
    timed = [(T + timedelta(minutes=m), granted) for m, granted in events]
    assert resolve_consent(timed) == resolve_consent(list(reversed(timed)))
    latest = max(m for m, _ in events)
    assert resolve_consent(timed) == all(g for m, g in events if m == latest)


APPOINTMENT_CODES = {"proposed", "pending", "booked", "arrived", "fulfilled", "cancelled", "noshow",
                     "entered-in-error", "checked-in", "waitlist"}  # fmt: skip
REQUEST_CODES = {"draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown"}


def test_fhir_code_maps_cover_every_status_with_valid_codes() -> None:
    assert set(APPOINTMENT_STATUS) == set(VISIT_STATUSES)
    assert set(APPOINTMENT_STATUS.values()) <= APPOINTMENT_CODES
    assert set(REQUEST_STATUS) == set(REMINDER_STATUSES)
    assert set(REQUEST_STATUS.values()) <= REQUEST_CODES
