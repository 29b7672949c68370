"""A host's ``mypy --strict`` checks calls through the facade: typed update fields, overloaded metrics (no database).

The snippet below is type-checked as a host application would be; every line marked ``# error: …`` must be
reported as that error on that line, and no other line may be reported.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

HOST = """
from datetime import UTC, datetime, time

from clinic_crm import ClinicCRM, ClinicSettings, NpsResult, PatientFields

NOW = datetime(2026, 3, 2, tzinfo=UTC)


def good(crm: ClinicCRM) -> None:
    crm.patients.update(1, phone="0912 345 678", birth_date=None, email=None)
    fields: PatientFields = {"family_name": "王", "external_id": "A-1"}
    crm.patients.update(1, **fields)
    settings: ClinicSettings = {"quiet_hours": (time(21), time(8)), "survey_delay_minutes": 30}
    crm.clinics.update(1, **settings)
    crm.events.update(1, at=NOW, title="Diabetes talk", capacity=None)
    one: NpsResult = crm.surveys.nps(clinic_id=1)
    grouped: dict[str | int | None, NpsResult] = crm.surveys.nps(clinic_id=1, by="month")
    print(one, grouped, crm.surveys.csat(by="clinic"), crm.surveys.response_rate().rate)


def bad(crm: ClinicCRM) -> None:
    crm.patients.update(1, famly_name="王")  # error: Unexpected keyword argument "famly_name"
    crm.patients.update(1, birth_date=19800101)  # error: Argument "birth_date" has incompatible type "int"
    crm.clinics.update(1, quiet_hour=None)  # error: Unexpected keyword argument "quiet_hour"
    crm.clinics.update(1, survey_delay_minutes="30")  # error: has incompatible type "str"
    crm.events.update(1, at=NOW, titel="Diabetes talk")  # error: Unexpected keyword argument "titel"
    one: NpsResult = crm.surveys.nps(by="month")  # error: Incompatible types in assignment
    crm.surveys.nps(clinic=1)  # error: Unexpected keyword argument "clinic" for overloaded function "__call__"
    crm.reminders.pause(1, reason=3)  # error: Argument "reason" has incompatible type "int"
    print(one)
"""


def test_a_hosts_mypy_rejects_wrong_field_names_and_types(tmp_path: Path) -> None:
    # a name of its own: mypy's incremental cache keeps a module's path, and a second run of ``host_app`` from
    # another temporary folder reported the errors of the first one's path
    module = tmp_path / f"host_app_{uuid.uuid4().hex}.py"
    module.write_text(HOST, encoding="utf-8")
    expected = {
        number: note
        for number, line in enumerate(HOST.splitlines(), start=1)
        if (note := re.search(r"# error: (.*)$", line)) is not None
    }
    assert len(expected) == 8
    out, err, _status = mypy_api.run(
        ["--strict", "--show-error-codes", "--no-error-summary", str(module)]  # incremental: the cache of ``mypy src``
    )
    reported: dict[int, str] = {}
    for line in out.splitlines():
        found = re.match(rf"{re.escape(str(module))}:(\d+): error: (.*)", line)
        if found:
            reported.setdefault(int(found[1]), found[2])
    assert set(reported) == set(expected), out + err
    for number, note in expected.items():
        assert note[1] in reported[number], f"line {number}: {reported[number]}"
