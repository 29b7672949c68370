"""Hypothesis properties of patients and instants, on SQLite and PostgreSQL.

* any phone number phonenumbers calls valid, registered in its region, is stored as its
  E.164 form and found again by its national form;
* any aware datetime (fixed offsets, IANA zones, microseconds) comes back as the same
  instant, aware, in UTC;
* any name without control characters or surrogates round-trips as NFC, trimmed —
  through ``register`` and through ``import_rows``;
* a name with a lone surrogate or a NUL is refused with ``ValidationError`` and nothing is stored.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta, timezone

import phonenumbers
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from clinic_crm import ClinicCRM, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import count_rows

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

NUMBER_TYPES = [
    phonenumbers.PhoneNumberType.MOBILE,
    phonenumbers.PhoneNumberType.FIXED_LINE,
    phonenumbers.PhoneNumberType.TOLL_FREE,
    phonenumbers.PhoneNumberType.VOIP,
    phonenumbers.PhoneNumberType.PERSONAL_NUMBER,
    phonenumbers.PhoneNumberType.UAN,
]
REGIONS = sorted(phonenumbers.SUPPORTED_REGIONS)


@st.composite
def valid_numbers(draw: st.DrawFn) -> tuple[str, phonenumbers.PhoneNumber]:
    """A region and a number valid there: an example number with its last digits redrawn."""
    region = draw(st.sampled_from(REGIONS))
    example = phonenumbers.example_number_for_type(region, draw(st.sampled_from(NUMBER_TYPES)))
    assume(example is not None)
    national = str(example.national_number)
    keep = max(len(national) - draw(st.integers(0, 4)), 1)
    digits = national[:keep] + "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=len(national) - keep, max_size=len(national) - keep))
    )
    number = phonenumbers.PhoneNumber(
        country_code=example.country_code,
        national_number=int(digits),
        italian_leading_zero=example.italian_leading_zero,
        number_of_leading_zeros=example.number_of_leading_zeros,
    )
    assume(phonenumbers.is_valid_number_for_region(number, region))
    return region, number


@PROPERTY
@given(case=valid_numbers())
def test_valid_phone_round_trips_to_e164_and_is_found_by_national_form(
    crm: ClinicCRM, case: tuple[str, phonenumbers.PhoneNumber]
) -> None:
    region, number = case
    national = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    # a national form that phonenumbers itself cannot read back is the library's business, not ours
    assume(phonenumbers.parse(national, region) == phonenumbers.parse(e164, None))
    clinic = _clinic_for(crm, region)
    patient = crm.patients.register(clinic, family_name="Test", given_name="Phone", phone=national)
    assert patient.phone == e164
    assert crm.patients.get(patient.id).phone == e164  # type: ignore[arg-type]
    assert patient.id in [p.id for p in crm.patients.find(clinic, phone=national)]
    assert patient.id in [p.id for p in crm.patients.find(clinic, phone=e164)]


def _clinic_for(crm: ClinicCRM, region: str) -> int:
    found = [c for c in _clinics(crm) if c.region == region]
    if found:
        assert found[0].id is not None
        return found[0].id
    clinic = crm.clinics.create(f"Clinic {region}", timezone="UTC", locale="en_US", region=region)
    assert clinic.id is not None
    return clinic.id


def _clinics(crm: ClinicCRM) -> list[Clinic]:
    return crm.clinics.list()  # the clinics made by earlier examples


OFFSETS = st.builds(
    timezone,
    st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59)),
)
AWARE = st.datetimes(
    min_value=datetime(1901, 1, 1),
    max_value=datetime(2199, 12, 31),
    timezones=st.one_of(OFFSETS, st.timezones()),
    allow_imaginary=False,
)


@PROPERTY
@given(starts_at=AWARE)
def test_aware_datetime_round_trips_to_the_same_instant_in_utc(
    crm: ClinicCRM, clinic: Clinic, starts_at: datetime
) -> None:
    assert clinic.id is not None
    patients = crm.patients.find(clinic.id, external_id="dt")
    patient = (
        patients[0]
        if patients
        else crm.patients.register(clinic.id, family_name="Time", given_name="Zone", external_id="dt")
    )
    assert patient.id is not None
    booked = crm.visits.book(patient.id, starts_at=starts_at, kind="checkup")
    assert booked.id is not None
    stored = crm.visits.get(booked.id).starts_at
    assert stored == starts_at.astimezone(UTC)
    assert stored.timestamp() == starts_at.timestamp()
    assert stored.utcoffset() == timedelta(0) and stored.tzinfo is not None


NAME = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=60)


def _expected(name: str) -> str:
    return unicodedata.normalize("NFC", name).strip()


@PROPERTY
@given(family=NAME, given_name=NAME)
def test_names_round_trip_nfc_trimmed(crm: ClinicCRM, clinic: Clinic, family: str, given_name: str) -> None:
    assert clinic.id is not None
    assume(_expected(family) and _expected(given_name))
    patient = crm.patients.register(clinic.id, family_name=family, given_name=given_name)
    again = crm.patients.get(patient.id)  # type: ignore[arg-type]
    assert (again.family_name, again.given_name) == (_expected(family), _expected(given_name))

    external_id = f"n{patient.id}"
    report = crm.patients.import_rows(
        clinic.id, [{"family_name": family, "given_name": given_name, "external_id": external_id}]
    )
    assert (report.created, report.rejected) == (1, [])
    (imported,) = crm.patients.find(clinic.id, external_id=external_id)
    assert (imported.family_name, imported.given_name) == (_expected(family), _expected(given_name))


BAD_CHAR = st.one_of(st.just("\x00"), st.characters(categories=["Cs"]))


@PROPERTY
@given(name=NAME, bad=BAD_CHAR, where=st.integers(0, 60), field=st.sampled_from(["family_name", "given_name"]))
def test_surrogates_and_nul_are_refused_and_nothing_stored(
    crm: ClinicCRM, clinic: Clinic, name: str, bad: str, where: int, field: str
) -> None:
    assert clinic.id is not None
    poisoned = name[:where] + bad + name[where:]
    fields = {"family_name": "Safe", "given_name": "Name", field: poisoned}
    before = count_rows(crm, "patient")
    with pytest.raises(ValidationError) as info:
        crm.patients.register(clinic.id, **fields)
    assert info.value.field == field
    assert poisoned not in str(info.value)
    report = crm.patients.import_rows(clinic.id, [fields])
    assert report.created == 0
    assert [(e.row, e.field) for e in report.rejected] == [(1, field)]
    assert count_rows(crm, "patient") == before
