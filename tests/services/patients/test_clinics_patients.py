"""Clinics and patients through the facade, on both databases."""

from __future__ import annotations

from datetime import date, time

import pytest

from clinic_crm import (
    ClinicCRM,
    DuplicatePatient,
    InvalidEmail,
    InvalidPhoneNumber,
    NaiveDatetimeError,
    NotFound,
    ValidationError,
)
from clinic_crm.models import Clinic
from tests.conftest import count_rows


def test_create_clinic_keeps_plain_strings(crm: ClinicCRM) -> None:
    clinic = crm.clinics.create("Sunrise", timezone="Asia/Taipei", locale="zh_TW", region="tw")
    got = crm.clinics.get(clinic.id)  # type: ignore[arg-type]
    assert (got.timezone, got.locale, got.region) == ("Asia/Taipei", "zh_TW", "TW")
    assert got.quiet_hours == (time(21), time(8))
    assert isinstance(got.locale, str) and isinstance(got.timezone, str)
    assert got.created_at.tzinfo is not None and got.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"timezone": "asia/taipei"}, "timezone"),
        ({"locale": "xx_YY"}, "locale"),
        ({"locale": "en-US"}, "locale"),
        ({"region": "ZZ"}, "region"),
        ({"quiet_hours": (time(21),)}, "quiet_hours"),
        ({"quiet_hours": ("21:00", "08:00")}, "quiet_hours"),
    ],
)
def test_create_clinic_rejects_bad_settings(crm: ClinicCRM, kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"timezone": "Asia/Taipei", "locale": "zh_TW", "region": "TW", **kwargs}
    with pytest.raises(ValidationError) as info:
        crm.clinics.create("Sunrise", **args)  # type: ignore[arg-type]
    assert info.value.field == field
    assert count_rows(crm, "clinic") == 0


def test_register_normalises_phone_email_and_names(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(
        clinic.id,  # type: ignore[arg-type]
        family_name="  王 ",
        given_name="小明",
        phone="0912-345-678",
        email="Ming.Wang@Example.COM",
        birth_date="1990-05-17",
    )
    assert patient.phone == "+886912345678"
    assert patient.email == "Ming.Wang@example.com"
    assert patient.family_name == "王"
    assert patient.display_name == "王小明"
    assert patient.birth_date == date(1990, 5, 17)
    assert (patient.locale, patient.timezone) == ("zh_TW", "Asia/Taipei")
    again = crm.patients.get(patient.id)  # type: ignore[arg-type]
    assert (again.phone, again.email, again.display_name) == (patient.phone, patient.email, "王小明")


def test_display_name_orders_by_locale(crm: ClinicCRM, clinic: Clinic) -> None:
    western = crm.patients.register(clinic.id, family_name="Wang", given_name="Ming", locale="en_US")  # type: ignore[arg-type]
    assert western.display_name == "Ming Wang"
    latin_in_zh = crm.patients.register(clinic.id, family_name="Smith", given_name="Anna")  # type: ignore[arg-type]
    assert latin_in_zh.display_name == "Anna Smith"


def test_names_are_nfc(crm: ClinicCRM, clinic: Clinic) -> None:
    decomposed = "Jose\u0301"
    patient = crm.patients.register(clinic.id, family_name="Garci\u0301a", given_name=decomposed)  # type: ignore[arg-type]
    assert patient.given_name == "Jos\u00e9" and patient.family_name == "Garc\u00eda"


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        ({"phone": "12345"}, InvalidPhoneNumber, "phone"),
        ({"phone": "not a phone"}, InvalidPhoneNumber, "phone"),
        ({"email": "nobody@"}, InvalidEmail, "email"),
        ({"family_name": ""}, ValidationError, "family_name"),
        ({"given_name": "a\x00b"}, ValidationError, "given_name"),
        ({"given_name": "bad\ud800"}, ValidationError, "given_name"),
        ({"locale": "zz_ZZ"}, ValidationError, "locale"),
        ({"timezone": "Nowhere/City"}, ValidationError, "timezone"),
        ({"birth_date": "17/05/1990"}, ValidationError, "birth_date"),
        ({"birth_date": "2999-01-01"}, ValidationError, "birth_date"),
    ],
)
def test_register_rejects_bad_input_and_writes_nothing(
    crm: ClinicCRM, clinic: Clinic, kwargs: dict[str, object], error: type[Exception], field: str
) -> None:
    args: dict[str, object] = {"family_name": "王", "given_name": "小明", **kwargs}
    with pytest.raises(error) as info:
        crm.patients.register(clinic.id, **args)  # type: ignore[arg-type]
    assert type(info.value) is error
    assert info.value.field == field  # type: ignore[attr-defined]
    assert count_rows(crm, "patient") == 0


def test_errors_never_carry_patient_data(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(InvalidPhoneNumber) as info:
        crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912-34")  # type: ignore[arg-type]
    assert info.value.value == "0912-34"
    assert "0912" not in str(info.value) and "0912" not in repr(info.value)
    with pytest.raises(InvalidEmail) as mail:
        crm.patients.register(clinic.id, family_name="王", given_name="小明", email="secret@@x")  # type: ignore[arg-type]
    assert mail.value.value == "secret@@x" and "secret" not in str(mail.value)


def test_external_id_unique_per_clinic(crm: ClinicCRM, clinic: Clinic) -> None:
    crm.patients.register(clinic.id, family_name="A", given_name="B", external_id="X1")  # type: ignore[arg-type]
    with pytest.raises(DuplicatePatient):
        crm.patients.register(clinic.id, family_name="C", given_name="D", external_id="X1")  # type: ignore[arg-type]
    assert count_rows(crm, "patient") == 1
    other = crm.clinics.create("Other", timezone="Asia/Tokyo", locale="ja_JP", region="JP")
    crm.patients.register(other.id, family_name="C", given_name="D", external_id="X1")  # type: ignore[arg-type]
    assert count_rows(crm, "patient") == 2


def test_phone_is_not_unique(crm: ClinicCRM, clinic: Clinic) -> None:
    for given in ("小明", "小華"):
        crm.patients.register(clinic.id, family_name="王", given_name=given, phone="0912345678")  # type: ignore[arg-type]
    assert len(crm.patients.find(clinic.id, phone="+886-912-345-678")) == 2  # type: ignore[arg-type]


def test_find_by_each_criterion(crm: ClinicCRM, clinic: Clinic) -> None:
    cid: int = clinic.id  # type: ignore[assignment]
    a = crm.patients.register(cid, family_name="王", given_name="小明", phone="0912345678", external_id="E1")
    b = crm.patients.register(cid, family_name="Chen", given_name="Amy", email="amy@example.com", locale="en_US")
    assert [p.id for p in crm.patients.find(cid, phone="0912 345 678")] == [a.id]
    assert [p.id for p in crm.patients.find(cid, email="AMY@example.com")] == [b.id]
    assert [p.id for p in crm.patients.find(cid, external_id="E1")] == [a.id]
    assert [p.id for p in crm.patients.find(cid, name="王小明")] == [a.id]
    assert [p.id for p in crm.patients.find(cid, name="amy chen")] == [b.id]
    assert [p.id for p in crm.patients.find(cid, name="小明", phone="0912345678")] == [a.id]
    assert crm.patients.find(cid, name="%") == []
    with pytest.raises(InvalidPhoneNumber):
        crm.patients.find(cid, phone="123")


def test_update_changes_only_given_fields(crm: ClinicCRM, clinic: Clinic) -> None:
    patient = crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912345678")  # type: ignore[arg-type]
    updated = crm.patients.update(patient.id, email="m@example.com", locale="en_US")  # type: ignore[arg-type]
    assert (updated.email, updated.locale, updated.phone) == ("m@example.com", "en_US", "+886912345678")
    cleared = crm.patients.update(patient.id, phone=None)  # type: ignore[arg-type]
    assert cleared.phone is None
    with pytest.raises(ValidationError) as info:
        crm.patients.update(patient.id, shoe_size=42)  # type: ignore[arg-type]
    assert info.value.field == "shoe_size"
    with pytest.raises(InvalidEmail):
        crm.patients.update(patient.id, email="bad", locale="ja_JP")  # type: ignore[arg-type]
    assert crm.patients.get(patient.id).locale == "en_US"  # type: ignore[arg-type]


def test_not_found(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(NotFound):
        crm.patients.get(999)
    with pytest.raises(NotFound):
        crm.patients.register(999, family_name="A", given_name="B")
    with pytest.raises(NotFound):
        crm.clinics.get(999)


def test_consent_history_is_kept(crm: ClinicCRM, clinic: Clinic) -> None:
    from datetime import UTC, datetime, timedelta

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    patient = crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912345678")  # type: ignore[arg-type]
    pid: int = patient.id  # type: ignore[assignment]
    assert crm.patients.has_consent(pid, "sms", "care", at=t0)
    assert not crm.patients.has_consent(pid, "sms", "marketing", at=t0)
    crm.patients.grant_consent(pid, "sms", "marketing", source="front desk", at=t0)
    crm.patients.withdraw_consent(pid, "sms", "care", source="phone call", at=t0 + timedelta(days=1))
    assert crm.patients.has_consent(pid, "sms", "marketing", at=t0 + timedelta(days=2))
    assert not crm.patients.has_consent(pid, "sms", "care", at=t0 + timedelta(days=2))
    assert crm.patients.has_consent(pid, "sms", "care", at=t0)  # before the withdrawal
    assert crm.patients.has_consent(pid, "email", "care", at=t0 + timedelta(days=2))  # per channel
    history = crm.patients.consent_history(pid)
    assert [(e.channel, e.purpose, e.granted, e.source) for e in history] == [
        ("sms", "marketing", True, "front desk"),
        ("sms", "care", False, "phone call"),
    ]
    assert history[0].at == t0


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (("fax", "care"), {"source": "x"}, ValidationError),
        (("sms", "spam"), {"source": "x"}, ValidationError),
        (("sms", "care"), {"source": ""}, ValidationError),
        (("sms", "care"), {"source": "x", "at": __import__("datetime").datetime(2026, 1, 1)}, NaiveDatetimeError),
    ],
)
def test_consent_rejects_bad_input(
    crm: ClinicCRM, clinic: Clinic, args: tuple[str, str], kwargs: dict[str, object], error: type[Exception]
) -> None:
    patient = crm.patients.register(clinic.id, family_name="王", given_name="小明")  # type: ignore[arg-type]
    with pytest.raises(error):
        crm.patients.grant_consent(patient.id, *args, **kwargs)  # type: ignore[arg-type]
    assert count_rows(crm, "consent_event") == 0
