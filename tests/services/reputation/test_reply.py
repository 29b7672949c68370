"""``crm.reputation.reply``: stored when safe; refused with nothing stored when it names or reaches a patient."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from clinic_crm import ClinicCRM, NaiveDatetimeError, NotFound, ValidationError
from clinic_crm.services.patients import register_patient
from clinic_crm.testing import make_patient
from tests.conftest import T0
from tests.services.reputation.conftest import RowFactory


@pytest.fixture
def mention_id(crm: ClinicCRM, clinic_id: int, row: RowFactory) -> int:
    """A 1-star mention of the clinic, posted 10 hours before ``T0``."""
    crm.reputation.ingest(clinic_id, [row(external_id="m", rating=1, posted_at=T0 - timedelta(hours=10))], now=T0)
    (mention,) = crm.reputation.mentions(clinic_id)
    assert mention.id is not None
    return mention.id


@pytest.fixture
def patients(crm: ClinicCRM, clinic_id: int) -> None:
    """Two patients of the clinic: 王小明 and Ming Wang (and one of another clinic, Ann Lee)."""
    make_patient(crm, clinic_id, family_name="王", given_name="小明", phone=None, email=None)
    make_patient(crm, clinic_id, family_name="Wang", given_name="Ming", phone=None, email=None)
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    assert other.id is not None
    make_patient(crm, other.id, family_name="Lee", given_name="Ann", phone=None, email=None)


def test_reply_is_stored(crm: ClinicCRM, mention_id: int, patients: None) -> None:
    text = "We are sorry to hear this. Please call the front desk; we reopened on 2026-03-02 at 10:30 (room 12)."
    mention = crm.reputation.reply(mention_id, text=text, at=T0, by="Mei")
    assert (mention.reply_text, mention.reply_by, mention.replied_at) == (text, "Mei", T0)
    again = crm.reputation.reply(mention_id, text="Updated reply", at=T0 + timedelta(hours=1), by="Lin")
    assert (again.reply_text, again.replied_at) == ("Updated reply", T0 + timedelta(hours=1))
    assert again.replied_at is not None and again.replied_at.tzinfo is UTC


REFUSED = [
    "Please call Ms Chen at 0912-345-678.",
    "Call 0912345678 anytime",
    "Our line: +886 2 2345 6789",
    "Reach her on (02) 2345-6789",
    "電話０９１２３４５６７８",  # full-width digits
    "ring 2345678 please",  # a bare 7-digit local number
    "Write to ming.wang@example.com",
    "Write to ｍｉｎｇ＠ｅｘａｍｐｌｅ．ｃｏｍ",
    "Dear 王小明, we are sorry",
    "小明王 thank you",
    "王 小明",
    "Dear Ming Wang, sorry",
    "dear WANG MING",
    "Thanks WangMing!",
    "Ｍｉｎｇ　 Ｗａｎｇ",
]


@pytest.mark.parametrize("text", REFUSED)
def test_reply_refused_and_nothing_stored(
    crm: ClinicCRM, clinic_id: int, mention_id: int, patients: None, text: str
) -> None:
    with pytest.raises(ValidationError) as err:
        crm.reputation.reply(mention_id, text=text, at=T0, by="Mei")
    assert err.value.field == "text"
    assert text not in str(err.value) and "Ming" not in str(err.value) and "小明" not in str(err.value)
    (mention,) = crm.reputation.mentions(clinic_id)
    assert (mention.replied_at, mention.reply_text, mention.reply_by) == (None, None, None)


@pytest.mark.parametrize(
    "text",
    [
        "Dear Ann Lee, thank you",  # a patient of another clinic
        "Vitali Nash likes the Ming Dynasty",  # no full name as words
        "Mr Wang, thank you",  # a family name alone
        "小明, thank you",  # a given name alone
        "NT$1,200 for 2 visits; open 09:00-18:00; 2026.03.02",
    ],
)
def test_reply_allowed(crm: ClinicCRM, mention_id: int, patients: None, text: str) -> None:
    assert crm.reputation.reply(mention_id, text=text, at=T0, by="Mei").reply_text == text


def test_a_new_patient_is_known_at_the_next_reply(
    crm: ClinicCRM, clinic_id: int, mention_id: int, patients: None
) -> None:
    crm.reputation.reply(mention_id, text="Thank you Amy Liu", at=T0, by="Mei")
    make_patient(crm, clinic_id, family_name="Liu", given_name="Amy", phone=None, email=None)
    with pytest.raises(ValidationError):
        crm.reputation.reply(mention_id, text="Thank you Amy Liu", at=T0, by="Mei")


def test_reply_bad_input(crm: ClinicCRM, mention_id: int) -> None:
    with pytest.raises(NotFound):
        crm.reputation.reply(999, text="Thanks", at=T0, by="Mei")
    with pytest.raises(NaiveDatetimeError):
        crm.reputation.reply(mention_id, text="Thanks", at=datetime(2026, 3, 2), by="Mei")
    for text in ("", "   ", "x" * 4001):
        with pytest.raises(ValidationError) as err:
            crm.reputation.reply(mention_id, text=text, at=T0, by="Mei")
        assert err.value.field == "text"
    with pytest.raises(ValidationError) as err:
        crm.reputation.reply(mention_id, text="Thanks", at=T0, by="")
    assert err.value.field == "by"


def test_a_renamed_patient_is_known_at_the_next_reply(crm: ClinicCRM, clinic_id: int, mention_id: int) -> None:
    patient = make_patient(crm, clinic_id, family_name="Liu", given_name="Amy", phone=None, email=None)
    assert patient.id is not None
    crm.reputation.reply(mention_id, text="Thank you Amy Chang", at=T0, by="Mei")
    crm.patients.update(patient.id, family_name="Chang")
    with pytest.raises(ValidationError):
        crm.reputation.reply(mention_id, text="Thank you Amy Chang", at=T0, by="Mei")


def test_names_are_rebuilt_only_when_patients_change_and_every_change_is_seen(
    crm: ClinicCRM, clinic_id: int, mention_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The "patients changed?" test: nothing changed → the cached index; a patient added (even with an old
    stamp), renamed or erased → seen by the very next reply."""
    from clinic_crm.services.reputation import guard

    builds: list[int] = []
    real = guard.NameIndex

    def counting(names: object) -> guard.NameIndex:
        builds.append(1)
        return real(names)  # type: ignore[arg-type]

    monkeypatch.setattr(guard, "NameIndex", counting)
    amy = make_patient(crm, clinic_id, family_name="Liu", given_name="Amy", phone=None, email=None)
    assert amy.id is not None
    crm.reputation.reply(mention_id, text="Thank you, Bo Chen", at=T0, by="Mei")
    crm.reputation.reply(mention_id, text="Thank you, Bo Chen", at=T0, by="Mei")
    assert len(builds) == 1  # unchanged patients: the index is reused
    # a patient registered with a stamp older than the newest change (max(id) sees it)
    with Session(crm.engine) as session, session.begin():
        register_patient(session, clinic_id, family_name="Chen", given_name="Bo", now=T0 - timedelta(days=400))
    with pytest.raises(ValidationError):
        crm.reputation.reply(mention_id, text="Thank you, Bo Chen", at=T0, by="Mei")
    crm.patients.update(amy.id, given_name="Ann")  # a rename, stamped now (max(updated_at))
    with pytest.raises(ValidationError):
        crm.reputation.reply(mention_id, text="Dear Ann Liu", at=T0, by="Mei")
    assert crm.reputation.reply(mention_id, text="Dear Amy Liu", at=T0, by="Mei").reply_text == "Dear Amy Liu"
    crm.patients.erase(amy.id, at=datetime.now(UTC), by="Mei", reason="patient request")
    assert crm.reputation.reply(mention_id, text="Dear Ann Liu", at=T0, by="Mei").reply_text == "Dear Ann Liu"
    assert len(builds) == 4  # one build per change, none per reply


def test_a_rename_stamped_earlier_than_the_clinics_newest_change_is_seen(
    crm: ClinicCRM, clinic_id: int, mention_id: int
) -> None:
    """A rename whose ``now`` is older than another patient's last change moves neither ``max(updated_at)`` nor
    ``max(id)``; the clinic's names counter (revision 0013) still makes the next reply see it — through
    ``update`` and through an import."""
    amy = make_patient(crm, clinic_id, family_name="Liu", given_name="Amy", phone=None, email=None)
    bo = make_patient(crm, clinic_id, family_name="Chen", given_name="Bo", phone=None, email=None, external_id="b-1")
    carol = make_patient(crm, clinic_id, family_name="Wu", given_name="Carol", phone=None, email=None)
    assert amy.id is not None and bo.id is not None and carol.id is not None
    later = datetime.now(UTC) + timedelta(days=30)
    crm.patients.update(carol.id, email="carol@example.com", now=later)  # the clinic's newest stamp, no rename
    crm.reputation.reply(mention_id, text="Thank you, Amy Chang", at=T0, by="Mei")  # the index is built, cached
    crm.patients.update(amy.id, family_name="Chang", now=T0 - timedelta(days=400))
    with pytest.raises(ValidationError):
        crm.reputation.reply(mention_id, text="Thank you, Amy Chang", at=T0, by="Mei")
    crm.reputation.reply(mention_id, text="Dear Bo Huang", at=T0, by="Mei")
    report = crm.patients.import_rows(
        clinic_id, [{"external_id": "b-1", "family_name": "Huang"}], now=T0 - timedelta(days=400)
    )
    assert report.updated == 1
    with pytest.raises(ValidationError):
        crm.reputation.reply(mention_id, text="Dear Bo Huang", at=T0, by="Mei")


def test_the_names_counter_moves_only_with_names(crm: ClinicCRM, clinic_id: int) -> None:
    """Registration, a rename, an import and an erasure raise the clinic's counter; a phone change does not."""
    from sqlalchemy import select

    from clinic_crm.services.patient_names import NAMES_VERSION

    def version() -> int | None:
        with crm.engine.connect() as conn:
            value: int | None = conn.execute(select(NAMES_VERSION), {"clinic_id": clinic_id}).scalar()
            return value

    assert version() is None
    amy = make_patient(crm, clinic_id, family_name="Liu", given_name="Amy", phone=None, email=None)
    assert amy.id is not None and version() == 1
    crm.patients.update(amy.id, phone="0912-345-678")
    assert version() == 1
    crm.patients.update(amy.id, given_name="Ann")
    assert version() == 2
    crm.patients.import_rows(clinic_id, [{"family_name": "Chen", "given_name": "Bo"}])
    assert version() == 3
    crm.patients.erase(amy.id, at=datetime.now(UTC), by="Mei", reason="patient request")
    assert version() == 4
