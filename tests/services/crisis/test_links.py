"""An incident declared from a reputation alert or a feedback case (both databases)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic_crm import ClinicCRM, Conflict, NotFound, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows


def _alert_id(crm: ClinicCRM, clinic_id: int) -> int:
    crm.reputation.watch(clinic_id, keywords=("sunrise",))
    row = {"source": "ptt", "external_id": "p1", "text": "Sunrise Dental leaked my file", "posted_at": T0}
    crm.reputation.ingest(clinic_id, [row])
    [alert] = crm.reputation.alerts(clinic_id)
    return alert.id


def test_declare_from_an_alert_escalates_it(crm: ClinicCRM, clinic: Clinic) -> None:
    alert_id = _alert_id(crm, clinic.id)
    incident = crm.incidents.declare(
        clinic.id, title="Post about a leak", crisis_type="data_breach", at=T0, by="lead", alert_id=alert_id
    )
    assert crm.reputation.alerts(clinic.id) == []  # no longer open
    [alert] = crm.reputation.alerts(clinic.id, open=False)
    assert alert.status == "escalated"
    assert crm.incidents.get(incident.id).alert_id == alert_id
    with pytest.raises(Conflict):  # escalated once; a second incident cannot claim it
        crm.incidents.declare(clinic.id, title="again", crisis_type="other", at=T0, by="lead", alert_id=alert_id)
    assert len(crm.incidents.list(clinic.id)) == 1


def test_declare_from_a_case(crm: ClinicCRM, clinic: Clinic) -> None:
    case = crm.feedback.record(clinic.id, kind="complaint", channel="phone", text="wrong tooth", at=T0)
    incident = crm.incidents.declare(
        clinic.id,
        title="Wrong tooth",
        crisis_type="medical_error",
        at=T0 + timedelta(hours=1),
        by="lead",
        case_id=case.id,
    )
    assert incident.case_id == case.id


def test_unknown_or_foreign_links_are_refused(crm: ClinicCRM, clinic: Clinic) -> None:
    other = crm.clinics.create("Other", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    foreign_case = crm.feedback.record(other.id, kind="complaint", channel="phone", text="x", at=T0)
    with pytest.raises(NotFound):
        crm.incidents.declare(clinic.id, title="t", crisis_type="other", at=T0, by="lead", case_id=999)
    with pytest.raises(NotFound):
        crm.incidents.declare(clinic.id, title="t", crisis_type="other", at=T0, by="lead", alert_id=999)
    with pytest.raises(ValidationError) as info:
        crm.incidents.declare(clinic.id, title="t", crisis_type="other", at=T0, by="lead", case_id=foreign_case.id)
    assert info.value.field == "case_id"
    assert count_rows(crm, "incident") == 0
