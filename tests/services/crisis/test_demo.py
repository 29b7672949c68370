"""The demo's prepared clinic: full readiness, a drill that sent nothing."""

from __future__ import annotations

from clinic_crm import ClinicCRM
from clinic_crm.demo.crisis import seed_demo_crisis
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows


def test_demo_clinic_is_ready_and_its_drill_sent_nothing(crm: ClinicCRM, clinic: Clinic) -> None:
    cid = clinic.id or 0
    result = seed_demo_crisis(crm, cid, now=T0)
    assert result == {"readiness": 100, "risks": 3, "playbooks": 3, "drills": 1}
    [drill] = crm.incidents.list(cid)
    assert drill.drill and drill.status == "closed"
    assert [e.kind for e in crm.incidents.timeline(drill.id or 0)] == [
        "declared",
        "drafted",
        "approved",
        "published",
        "drafted",
        "approved",
        "published",
        "note",
        "closed",
    ]
    assert count_rows(crm, "clinic_pause") == 0 and count_rows(crm, "reminder") == 0
    assert all(s.posts == {} for s in crm.incidents.statements(drill.id or 0))
