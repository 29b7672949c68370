"""Hardening: a typed error at every edge, nothing written after one, no patient data in logs (both databases)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import text

from clinic_crm import ClinicCRM, DatabaseUnavailable, NotFound, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows

SURROGATE = "bad\udcff"


@pytest.fixture
def patient_id(crm: ClinicCRM, clinic: Clinic) -> int:
    return crm.patients.register(clinic.id, family_name="王", given_name="小明", phone="0912-345-678").id or 0


def test_lone_surrogates_and_nul_are_validation_errors(crm: ClinicCRM, clinic: Clinic, patient_id: int) -> None:
    calls = [
        lambda: crm.visits.book(patient_id, starts_at=T0, kind=SURROGATE),
        lambda: crm.visits.book(patient_id, starts_at=T0, kind="checkup", practitioner=SURROGATE),
        lambda: crm.patients.grant_consent(patient_id, "sms", "marketing", source=SURROGATE, at=T0),
        lambda: crm.patients.find(clinic.id, external_id=SURROGATE),
        lambda: crm.patients.find(clinic.id, external_id="x\x00"),
        lambda: crm.reminders.schedule(patient_id, kind=SURROGATE, purpose="care", due_at=T0),
    ]
    for call in calls:
        with pytest.raises(ValidationError):
            call()
    assert count_rows(crm, "visit") == 0
    assert count_rows(crm, "reminder") == 0


def test_wrong_types_are_validation_errors(crm: ClinicCRM, clinic: Clinic, patient_id: int) -> None:
    for value in ([1], {"a": 1}, 3.5):
        with pytest.raises(ValidationError):
            crm.patients.find(clinic.id, external_id=value)  # type: ignore[arg-type]
    for payload in ({"a": {1}}, {"a": float("nan")}, {"a": b"x"}):
        with pytest.raises(ValidationError) as info:
            crm.reminders.schedule(patient_id, kind="recall", purpose="care", due_at=T0, payload=payload)
        assert info.value.field == "payload"
    assert count_rows(crm, "reminder") == 0


@pytest.mark.parametrize(
    "instant",
    [
        datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        datetime(9999, 12, 31, 23, 0, tzinfo=UTC),
        datetime(9999, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5))),
    ],
)
def test_extreme_instants_are_validation_errors(crm: ClinicCRM, patient_id: int, instant: datetime) -> None:
    with pytest.raises(ValidationError):
        crm.visits.book(patient_id, starts_at=instant, kind="checkup")
    with pytest.raises(ValidationError):
        crm.patients.grant_consent(patient_id, "sms", "marketing", source="front desk", at=instant)
    with pytest.raises(ValidationError):
        crm.reminders.plan(now=instant, horizon=timedelta(days=1))
    assert count_rows(crm, "visit") == 0


@pytest.mark.parametrize("ident", [0, -1, 2**31, 2**63, 2**80])
def test_ids_out_of_range_are_not_found(crm: ClinicCRM, ident: int) -> None:
    for call in (crm.patients.get, crm.visits.get, crm.reminders.get, crm.clinics.get):
        with pytest.raises(NotFound):
            call(ident)


def test_zone_and_locale_limits(crm: ClinicCRM) -> None:
    with pytest.raises(ValidationError) as info:
        crm.clinics.create("X", timezone="localtime", locale="en_US", region="US")
    assert info.value.field == "timezone"
    with pytest.raises(ValidationError) as info:
        crm.clinics.create("X", timezone="UTC", locale="en_US@" + "x" * 100, region="US")
    assert info.value.field == "locale"
    assert count_rows(crm, "clinic") == 0


def test_recall_intervals_are_bounded(crm: ClinicCRM, patient_id: int) -> None:
    for every in ("9999 years", "11 years", "FREQ=YEARLY;INTERVAL=50"):
        with pytest.raises(ValidationError) as info:
            crm.reminders.add_recall(patient_id, kind="recall", every=every, after_visit_kind="checkup")
        assert info.value.field == "every"
    crm.reminders.add_recall(patient_id, kind="recall", every="10 years", after_visit_kind="checkup")
    assert crm.reminders.plan(now=T0, horizon=timedelta(days=30)) == 0


def test_debug_logging_shows_no_patient_data(crm: ClinicCRM, clinic: Clinic, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="sqlalchemy"):
        patient = crm.patients.register(
            clinic.id, family_name="Lin", given_name="Meiling", phone="0912-345-678", email="meiling@example.org"
        )
        crm.patients.get(patient.id)
        crm.patients.find(clinic.id, name="Meiling")
    assert caplog.records, "DEBUG records were expected from the engine"
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in ("Meiling", "+886912345678", "meiling@example.org"):
        assert secret not in logged


def test_an_unmigrated_database_is_a_typed_error(tmp_path: Path) -> None:
    with ClinicCRM(f"sqlite:///{tmp_path / 'empty.db'}") as crm:
        with pytest.raises(DatabaseUnavailable) as info:
            crm.clinics.list()
        assert info.value.retryable is False
        assert "migrate" in str(info.value)


def test_an_unreachable_server_is_a_typed_retryable_error() -> None:
    with ClinicCRM("postgresql+psycopg://postgres@127.0.0.1:1/none?connect_timeout=2") as crm:
        with pytest.raises(DatabaseUnavailable) as info:
            crm.clinics.list()
        assert info.value.retryable is True
        assert "127.0.0.1" not in str(info.value)


def test_postgres_sessions_run_in_utc(crm: ClinicCRM, backend: str) -> None:
    if backend != "postgres":
        pytest.skip("PostgreSQL only")
    with crm.engine.connect() as conn:
        assert conn.execute(text("SHOW timezone")).scalar_one() == "UTC"
