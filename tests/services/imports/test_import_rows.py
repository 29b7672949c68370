"""crm.patients.import_rows: counts, row numbers, update-by-external-id, blank keeps, rejections."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from clinic_crm import ClinicCRM, DuplicatePatient, NotFound, ValidationError
from clinic_crm.models import Clinic
from clinic_crm.services import import_writer, imports
from clinic_crm.services.imports import ImportReport, RowError
from tests.conftest import count_rows
from tests.services.imports.conftest import by_external_id

PATIENT_DATA = ("王", "小明", "0912-345-678", "912345678", "ming@example.com", "not-a-phone", "bad@@mail")


def assert_no_patient_data(report: ImportReport, *values: str) -> None:
    """No reason mentions any of the rows' values."""
    for error in report.rejected:
        for value in values:
            assert value not in error.reason, (error, value)


def test_counts_row_numbers_and_valid_rows_land(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    crm.patients.register(clinic.id, family_name="陳", given_name="怡君", external_id="E1")
    report = crm.patients.import_rows(
        clinic.id,
        [
            {"family_name": "王", "given_name": "小明", "phone": "0912-345-678", "external_id": "N1"},  # 1 new
            {"external_id": "E1", "email": "yi@example.com"},  # 2 update
            {"family_name": "Lee", "given_name": "Ann", "phone": "not-a-phone"},  # 3 bad phone
            {"family_name": "Lee", "given_name": "Bo"},  # 4 new, no external id
            {"family_name": "Lee", "given_name": "Cy", "email": "bad@@mail"},  # 5 bad email
        ],
    )
    assert (report.created, report.updated) == (2, 1)
    assert report.rejected == [
        RowError(3, "phone", report.rejected[0].reason),
        RowError(5, "email", report.rejected[1].reason),
    ]
    assert_no_patient_data(report, *PATIENT_DATA)
    assert count_rows(crm, "patient") == 3
    patients = by_external_id(crm, clinic.id)
    assert patients["N1"].phone == "+886912345678"
    assert patients["N1"].locale == "zh_TW" and patients["N1"].timezone == "Asia/Taipei"
    assert patients["E1"].email == "yi@example.com"
    assert patients["E1"].family_name == "陳"


def test_blank_or_missing_keeps_stored_value(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    before = crm.patients.register(
        clinic.id,
        family_name="林",
        given_name="美玲",
        phone="0912-000-111",
        email="mei@example.com",
        birth_date="1980-05-06",
        locale="en_US",
        external_id="P7",
    )
    report = crm.patients.import_rows(
        clinic.id,
        [{"external_id": "P7", "phone": "", "email": None, "birth_date": "   ", "given_name": " 美麗 ", "locale": ""}],
    )
    assert (report.created, report.updated, report.rejected) == (0, 1, [])
    after = crm.patients.get(before.id)  # type: ignore[arg-type]
    assert after.given_name == "美麗"
    assert (after.family_name, after.phone, after.email) == ("林", "+886912000111", "mei@example.com")
    assert (after.birth_date, after.locale) == (date(1980, 5, 6), "en_US")
    assert after.created_at == before.created_at
    assert after.updated_at > before.updated_at


def test_new_patient_blank_optionals_are_none_and_names_required(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    report = crm.patients.import_rows(
        clinic.id,
        [
            {"family_name": "Smith", "given_name": "Jo", "phone": " ", "email": "", "external_id": "S1"},
            {"given_name": "NoFamily", "external_id": "S2"},
            {"family_name": "NoGiven"},
        ],
    )
    assert (report.created, report.updated) == (1, 0)
    assert [(e.row, e.field) for e in report.rejected] == [(2, "family_name"), (3, "given_name")]
    assert_no_patient_data(report, "NoFamily", "NoGiven")
    (smith,) = crm.patients.find(clinic.id)
    assert (smith.phone, smith.email, smith.birth_date, smith.locale) == (None, None, None, "zh_TW")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("phone", "0912-34"),
        ("phone", "+1 555"),
        ("email", "ming@"),
        ("email", "王@example..com"),
        ("birth_date", "1990-13-01"),
        ("birth_date", "01/02/1990"),
        ("birth_date", "2999-01-01"),
        ("locale", "xx_QQ"),
        ("locale", "zh-TW"),
        ("timezone", "Asia/Taipai"),
        ("family_name", "王\x00"),
        ("given_name", "Ming\ud800"),
        ("external_id", "x" * 101),
    ],
)
def test_bad_value_rejected_with_field_and_no_data(crm: ClinicCRM, clinic: Clinic, column: str, value: str) -> None:
    assert clinic.id is not None
    row = {"family_name": "王", "given_name": "小明", "external_id": "V1", column: value}
    report = crm.patients.import_rows(clinic.id, [{"family_name": "Ok", "given_name": "Row"}, row])
    assert (report.created, report.updated) == (1, 0)
    assert len(report.rejected) == 1
    error = report.rejected[0]
    assert (error.row, error.field) == (2, column)
    assert value.strip() not in error.reason
    assert "王" not in error.reason and "小明" not in error.reason
    assert str(error) == f"row 2: {column}: {error.reason}"
    assert count_rows(crm, "patient") == 1


def test_same_external_id_twice_later_row_updates_earlier(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    report = crm.patients.import_rows(
        clinic.id,
        [
            {"family_name": "王", "given_name": "小明", "phone": "0912345678", "external_id": "D1"},
            {"external_id": "D1", "email": "ming@example.com"},
            {"external_id": "D1", "given_name": "大明"},
        ],
    )
    assert (report.created, report.updated, report.rejected) == (1, 2, [])
    (patient,) = crm.patients.find(clinic.id)
    assert (patient.given_name, patient.phone, patient.email) == ("大明", "+886912345678", "ming@example.com")


def test_duplicate_across_chunks_and_update_of_existing(
    crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert clinic.id is not None
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    existing = crm.patients.register(clinic.id, family_name="Old", given_name="One", external_id="X0")
    rows = [{"family_name": f"F{i}", "given_name": f"G{i}", "external_id": f"X{i}"} for i in range(1, 6)]
    rows += [{"external_id": "X1", "given_name": "again"}, {"external_id": "X0", "given_name": "renamed"}]
    rows += [{"external_id": "X1", "given_name": "third"}]
    report = crm.patients.import_rows(clinic.id, rows)
    assert (report.created, report.updated, report.rejected) == (5, 3, [])
    patients = by_external_id(crm, clinic.id)
    assert len(patients) == 6
    assert patients["X1"].given_name == "third"
    assert patients["X0"].given_name == "renamed" and patients["X0"].id == existing.id


def test_rejected_rows_sorted_across_chunks(crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    assert clinic.id is not None
    monkeypatch.setattr(imports, "CHUNK_SIZE", 3)
    rows: list[dict[str, str]] = []
    for i in range(1, 11):
        if i % 3 == 0:
            rows.append({"given_name": "only"})  # rejected when written (new patient without family name)
        elif i % 4 == 0:
            rows.append({"family_name": "A", "given_name": "B", "phone": "1"})  # rejected when validated
        else:
            rows.append({"family_name": "A", "given_name": "B"})
    report = crm.patients.import_rows(clinic.id, rows)
    assert [e.row for e in report.rejected] == [3, 4, 6, 8, 9]
    assert report.created == 5 == count_rows(crm, "patient")


def test_external_id_is_per_clinic(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    other = crm.clinics.create("Other", timezone="Asia/Tokyo", locale="ja_JP", region="JP")
    assert other.id is not None
    crm.patients.register(other.id, family_name="山田", given_name="太郎", external_id="K1")
    report = crm.patients.import_rows(clinic.id, [{"family_name": "王", "given_name": "明", "external_id": "K1"}])
    assert (report.created, report.updated) == (1, 0)
    assert by_external_id(crm, other.id)["K1"].family_name == "山田"
    assert by_external_id(crm, clinic.id)["K1"].timezone == "Asia/Taipei"


def test_unknown_column_rejects_everything(crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    assert clinic.id is not None
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    rows = [{"family_name": "A", "given_name": str(i)} for i in range(5)]
    rows.append({"family_name": "A", "given_name": "B", "nickname": "x"})
    with pytest.raises(ValidationError) as info:
        crm.patients.import_rows(clinic.id, rows)
    assert info.value.field == "nickname"
    assert count_rows(crm, "patient") == 0  # the chunks already written were rolled back


def test_row_that_is_not_a_mapping(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    with pytest.raises(ValidationError) as info:
        crm.patients.import_rows(clinic.id, [{"family_name": "A", "given_name": "B"}, ["A", "B"]])  # type: ignore[list-item]
    assert info.value.field == "rows"
    assert count_rows(crm, "patient") == 0


def test_unknown_clinic(crm: ClinicCRM) -> None:
    with pytest.raises(NotFound):
        crm.patients.import_rows(999, [{"family_name": "A", "given_name": "B"}])
    assert count_rows(crm, "patient") == 0


def test_non_string_values(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    report = crm.patients.import_rows(
        clinic.id,
        [
            {"family_name": "A", "given_name": "B", "birth_date": date(2001, 2, 3)},
            {"family_name": "A", "given_name": "C", "birth_date": datetime(2001, 2, 3, tzinfo=UTC)},
            {"family_name": "A", "given_name": "D", "phone": 912345678},
        ],
    )
    assert report.created == 1
    assert [(e.row, e.field) for e in report.rejected] == [(2, "birth_date"), (3, "phone")]
    (patient,) = crm.patients.find(clinic.id)
    assert patient.birth_date == date(2001, 2, 3)


def test_empty_import(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    assert crm.patients.import_rows(clinic.id, []) == ImportReport(0, 0, [])


def test_inside_a_transaction_rolls_back_with_it(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    with pytest.raises(RuntimeError), crm.transaction() as tx:
        report = tx.patients.import_rows(clinic.id, [{"family_name": "A", "given_name": "B"}])
        assert report.created == 1
        raise RuntimeError("abort")
    assert count_rows(crm, "patient") == 0


def test_transaction_sees_fresh_values_after_import(crm: ClinicCRM, clinic: Clinic) -> None:
    assert clinic.id is not None
    with crm.transaction() as tx:
        patient = tx.patients.register(clinic.id, family_name="A", given_name="B", external_id="T1")
        tx.patients.import_rows(clinic.id, [{"external_id": "T1", "given_name": "C"}])
        assert tx.patients.get(patient.id).given_name == "C"  # type: ignore[arg-type]
    assert crm.patients.find(clinic.id, external_id="T1")[0].given_name == "C"


def test_progress_callback_counts_every_row(crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch) -> None:
    assert clinic.id is not None
    monkeypatch.setattr(imports, "CHUNK_SIZE", 4)
    calls: list[int] = []
    rows = [{"family_name": "A", "given_name": str(i)} for i in range(10)]
    crm.patients.import_rows(clinic.id, rows, progress=calls.append)
    assert calls == [4, 4, 2]


def test_awkward_characters_survive_the_bulk_path(crm: ClinicCRM, clinic: Clinic) -> None:
    """Tabs, backslashes, quotes and line breaks in an external id; rare scripts in names (COPY/executemany)."""
    assert clinic.id is not None
    awkward = "a\tb\\c\n\"d',e\\N"
    names = ("𠮷野", "Nguyễn Văn\u00a0An")
    report = crm.patients.import_rows(
        clinic.id, [{"family_name": names[0], "given_name": names[1], "external_id": awkward}]
    )
    assert report.created == 1
    (patient,) = crm.patients.find(clinic.id, external_id=awkward)
    assert (patient.family_name, patient.given_name, patient.external_id) == (*names, awkward)
    again = crm.patients.import_rows(clinic.id, [{"external_id": awkward, "email": "x@example.com"}])
    assert (again.created, again.updated) == (0, 1)


def test_external_id_taken_behind_our_back_is_duplicate_patient(
    crm: ClinicCRM, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If another writer inserts an external id between our look-up and our insert, nothing is kept."""
    assert clinic.id is not None
    crm.patients.register(clinic.id, family_name="A", given_name="B", external_id="R1")
    monkeypatch.setattr(import_writer.ChunkWriter, "_existing_ids", lambda self, ids: {})  # the look-up "missed" it
    rows = [{"family_name": "C", "given_name": "D", "external_id": "R0"}]
    rows.append({"family_name": "E", "given_name": "F", "external_id": "R1"})
    with pytest.raises(DuplicatePatient) as info:
        crm.patients.import_rows(clinic.id, rows)
    assert "R1" not in str(info.value)
    assert count_rows(crm, "patient") == 1


def test_import_ids_come_from_the_same_numbering_as_register(crm: ClinicCRM, clinic: Clinic) -> None:
    """Imported patients take the next ids of the table's numbering; a later register follows them, no clash."""
    assert clinic.id is not None
    first = crm.patients.register(clinic.id, family_name="A", given_name="B")
    rows = [{"family_name": "林", "given_name": f"{i}"} for i in range(4)]
    assert crm.patients.import_rows(clinic.id, rows).created == 4
    later = crm.patients.register(clinic.id, family_name="C", given_name="D")
    ids = sorted(p.id for p in crm.patients.find(clinic.id) if p.id is not None)
    assert first.id is not None and later.id is not None
    assert ids[0] == first.id and ids[-1] == later.id and len(set(ids)) == 6
    assert ids[1:5] == list(range(first.id + 1, first.id + 5))
