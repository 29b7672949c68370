"""``crm.risks``: FMEA scores, review cadence and history, the due-for-review list, retirement."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from clinic_crm import ClinicCRM, InvalidTransition, NaiveDatetimeError, NotFound, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows

RISK = {"title": "Server room flood", "category": "operations", "severity": 8, "occurrence": 3, "detection": 4}


def test_add_scores_the_risk_and_schedules_its_review(crm: ClinicCRM, clinic: Clinic) -> None:
    risk = crm.risks.add(clinic.id, **RISK, at=T0, owner="IT", mitigation="raised floor")  # type: ignore[arg-type]
    assert isinstance(risk.id, int)
    assert risk.rpn == 8 * 3 * 4
    assert risk.status == "active"
    assert risk.last_reviewed_at is None
    assert risk.next_review_at == T0.replace(year=2027)
    assert (risk.owner, risk.mitigation, risk.category) == ("IT", "raised floor", "operations")
    assert crm.risks.get(risk.id).rpn == 96


@pytest.mark.parametrize("field", ["severity", "occurrence", "detection"])
@pytest.mark.parametrize("value", [0, 11, -1, 2.0, True, "5", None])
def test_scores_are_ints_from_1_to_10(crm: ClinicCRM, clinic: Clinic, field: str, value: object) -> None:
    with pytest.raises(ValidationError) as err:
        crm.risks.add(clinic.id, **{**RISK, field: value}, at=T0)  # type: ignore[arg-type]
    assert err.value.field == field
    assert count_rows(crm, "risk") == 0 and count_rows(crm, "risk_version") == 0


def test_bad_category_review_every_and_naive_at(crm: ClinicCRM, clinic: Clinic) -> None:
    with pytest.raises(ValidationError) as err:
        crm.risks.add(clinic.id, **{**RISK, "category": "weather"}, at=T0)  # type: ignore[arg-type]
    assert err.value.field == "category"
    with pytest.raises(ValidationError) as err:
        crm.risks.add(clinic.id, **RISK, at=T0, review_every="sometimes")  # type: ignore[arg-type]
    assert err.value.field == "review_every"
    with pytest.raises(NaiveDatetimeError):
        crm.risks.add(clinic.id, **RISK, at=datetime(2026, 3, 2))  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        crm.risks.add(clinic.id + 99, **RISK, at=T0)  # type: ignore[arg-type,operator]
    assert count_rows(crm, "risk") == 0


def test_review_rescores_what_is_given_and_moves_the_review(crm: ClinicCRM, clinic: Clinic) -> None:
    risk = crm.risks.add(clinic.id, **RISK, at=T0, review_every="6 months")  # type: ignore[arg-type]
    assert risk.next_review_at == T0.replace(month=9)
    later = T0 + timedelta(days=30)
    reviewed = crm.risks.review(risk.id, at=later, by="Dr. Chen", note="pump installed", occurrence=1)  # type: ignore[arg-type]
    assert (reviewed.severity, reviewed.occurrence, reviewed.detection, reviewed.rpn) == (8, 1, 4, 32)
    assert reviewed.last_reviewed_at == later
    assert reviewed.next_review_at == later.replace(month=10)
    assert reviewed.mitigation is None
    crm.risks.review(risk.id, at=later, by="Dr. Chen", note="documented", mitigation="pump")  # type: ignore[arg-type]
    history = crm.risks.history(risk.id)  # type: ignore[arg-type]
    assert [(v.version, v.kind, v.rpn, v.note) for v in history] == [
        (1, "added", 96, None),
        (2, "reviewed", 32, "pump installed"),
        (3, "reviewed", 32, "documented"),
    ]
    assert history[-1].mitigation == "pump" and history[1].by == "Dr. Chen" and history[1].at == later


def test_a_bad_review_changes_nothing(crm: ClinicCRM, clinic: Clinic) -> None:
    risk = crm.risks.add(clinic.id, **RISK, at=T0)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as err:
        crm.risks.review(risk.id, at=T0, by="x", note="n", severity=3, detection=12)  # type: ignore[arg-type]
    assert err.value.field == "detection"
    assert crm.risks.get(risk.id).severity == 8  # type: ignore[arg-type]
    assert len(crm.risks.history(risk.id)) == 1  # type: ignore[arg-type]


def test_list_highest_rpn_first_ties_oldest_first(crm: ClinicCRM, clinic: Clinic) -> None:
    low = crm.risks.add(clinic.id, **{**RISK, "severity": 1}, at=T0)  # type: ignore[arg-type]
    tie_new = crm.risks.add(clinic.id, **RISK, at=T0 + timedelta(hours=1))  # type: ignore[arg-type]
    tie_old = crm.risks.add(clinic.id, **RISK, at=T0)  # type: ignore[arg-type]
    care = crm.risks.add(clinic.id, **{**RISK, "category": "care", "severity": 10}, at=T0)  # type: ignore[arg-type]
    assert [r.id for r in crm.risks.list(clinic.id)] == [care.id, tie_old.id, tie_new.id, low.id]  # type: ignore[arg-type]
    assert [r.id for r in crm.risks.list(clinic.id, category="care")] == [care.id]  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        crm.risks.list(clinic.id, category="nope")  # type: ignore[arg-type]


def test_due_for_review_and_retire(crm: ClinicCRM, clinic: Clinic) -> None:
    yearly = crm.risks.add(clinic.id, **RISK, at=T0)  # type: ignore[arg-type]
    monthly = crm.risks.add(clinic.id, **RISK, at=T0, review_every="1 month")  # type: ignore[arg-type]
    due = T0.replace(month=4)
    assert [r.id for r in crm.risks.list(clinic.id, due_for_review=True, now=due)] == [monthly.id]  # type: ignore[arg-type]
    assert crm.risks.list(clinic.id, due_for_review=True, now=due - timedelta(seconds=1)) == []  # type: ignore[arg-type]
    retired = crm.risks.retire(monthly.id, at=due, by="Dr. Chen", reason="server moved to the cloud")  # type: ignore[arg-type]
    assert retired.status == "retired" and retired.retired_at == due
    assert [r.id for r in crm.risks.list(clinic.id)] == [yearly.id]  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition):
        crm.risks.retire(monthly.id, at=due, by="Dr. Chen", reason="again")  # type: ignore[arg-type]
    with pytest.raises(InvalidTransition):
        crm.risks.review(monthly.id, at=due, by="Dr. Chen", note="n")  # type: ignore[arg-type]
    assert len(crm.risks.history(monthly.id)) == 1  # type: ignore[arg-type]
