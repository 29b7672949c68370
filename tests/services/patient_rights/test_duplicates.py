"""``crm.patients.duplicates``: same folded name plus a shared birth date or e-mail; never a shared phone alone."""

from __future__ import annotations

import pytest

from clinic_crm import ClinicCRM, DuplicatePair, NotFound
from clinic_crm.models import Clinic
from tests.conftest import T0
from tests.services.patient_rights.conftest import PatientFactory


def test_cjk_names_compare_without_spaces_and_share_a_birth_date(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory
) -> None:
    a = make_patient(family_name="王", given_name="小明", birth_date="1980-05-06")
    b = make_patient(family_name="王 ", given_name="小 明", birth_date="1980-05-06")
    assert rclinic.id is not None
    assert crm.patients.duplicates(rclinic.id) == [DuplicatePair(a.id, b.id, 0.9, ("name", "birth_date"))]  # type: ignore[arg-type]


def test_latin_names_fold_case_accents_and_width(crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory) -> None:
    a = make_patient(family_name="García", given_name="José", email="jose@example.com", phone=None)
    b = make_patient(family_name="GARCIA", given_name="Ｊｏｓｅ", email="JOSE@example.com", phone=None)
    assert rclinic.id is not None
    (pair,) = crm.patients.duplicates(rclinic.id)
    assert (pair.patient_id, pair.other_id, pair.score, pair.reasons) == (a.id, b.id, 0.8, ("name", "email"))


def test_scores_order_and_phone_bonus(crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory) -> None:
    a = make_patient(given_name="一", birth_date="1990-01-01", email="x@example.com", phone="0912-111-111")
    b = make_patient(given_name="一", birth_date="1990-01-01", email="x@example.com", phone="0912-222-222")
    c = make_patient(given_name="二", birth_date="1990-01-01", phone="0912-333-333")
    d = make_patient(given_name="二", birth_date="1990-01-01", phone="0912-333-333")
    e = make_patient(given_name="三", email="y@example.com", phone="0912-444-444")
    f = make_patient(given_name="三", email="y@example.com", birth_date="1970-01-01", phone="0912-555-555")
    assert rclinic.id is not None
    pairs = crm.patients.duplicates(rclinic.id)
    assert [(p.patient_id, p.other_id, p.score) for p in pairs] == [
        (a.id, b.id, 1.0),
        (c.id, d.id, 0.95),
        (e.id, f.id, 0.8),
    ]
    assert pairs[1].reasons == ("name", "birth_date", "phone")
    assert all(p.patient_id < p.other_id for p in pairs)


def test_a_shared_phone_alone_never_pairs(crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory) -> None:
    make_patient(given_name="小明", phone="0912-000-000")
    make_patient(given_name="小明", phone="0912-000-000")
    make_patient(given_name="小華", phone="0912-000-000", birth_date="2010-01-01")
    make_patient(given_name="小美", phone="0912-000-000", birth_date="2010-01-01")
    assert rclinic.id is not None
    assert crm.patients.duplicates(rclinic.id) == []


def test_different_birth_dates_never_pair_even_with_the_same_email(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory
) -> None:
    make_patient(birth_date="2015-01-01", email="parent@example.com")
    make_patient(birth_date="2017-03-03", email="parent@example.com")
    assert rclinic.id is not None
    assert crm.patients.duplicates(rclinic.id) == []


def test_three_records_give_three_pairs(crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory) -> None:
    ids = [make_patient(birth_date="1980-01-01").id for _ in range(3)]
    assert rclinic.id is not None
    pairs = crm.patients.duplicates(rclinic.id)
    assert sorted((p.patient_id, p.other_id) for p in pairs) == [(ids[0], ids[1]), (ids[0], ids[2]), (ids[1], ids[2])]


def test_merged_erased_and_other_clinics_are_left_out(
    crm: ClinicCRM, rclinic: Clinic, make_patient: PatientFactory
) -> None:
    assert rclinic.id is not None
    a = make_patient(birth_date="1980-01-01")
    b = make_patient(birth_date="1980-01-01")
    c = make_patient(birth_date="1980-01-01")
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    assert other.id is not None
    crm.patients.register(other.id, family_name="王", given_name="小明", birth_date="1980-01-01")
    assert a.id is not None and b.id is not None and c.id is not None
    crm.patients.merge(a.id, b.id, at=T0, by="Dr. Lin")
    crm.patients.erase(c.id, at=T0, by="Dr. Lin", reason="patient request")
    assert crm.patients.duplicates(rclinic.id) == []


def test_unknown_clinic(crm: ClinicCRM) -> None:
    with pytest.raises(NotFound):
        crm.patients.duplicates(999)
