"""``crm.crisis``: the team (one member per role), contacts, playbooks, approvers and the six readiness checks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from clinic_crm import ClinicCRM, InvalidEmail, InvalidPhoneNumber, NotFound, ValidationError
from clinic_crm.models import Clinic
from tests.conftest import T0, count_rows

NAMES = ["lead", "spokesperson", "legal_contact", "playbooks", "drill", "risks_reviewed"]


def test_one_member_per_role_and_setting_again_replaces(crm: ClinicCRM, clinic: Clinic) -> None:
    cid = clinic.id or 0
    first = crm.crisis.set_member(cid, role="spokesperson", name="Amy Lin", phone="0922-333-444")
    lead = crm.crisis.set_member(cid, role="lead", name="Dr. Chen", phone="0912-345-678", email="Chen@Example.com")
    assert (lead.phone, lead.email) == ("+886912345678", "Chen@example.com")
    again = crm.crisis.set_member(cid, role="spokesperson", name="Bo Hsu")
    assert again.id == first.id
    team = crm.crisis.team(cid)
    assert [(m.role, m.name, m.phone) for m in team] == [
        ("lead", "Dr. Chen", "+886912345678"),
        ("spokesperson", "Bo Hsu", None),
    ]


def test_member_validation_keeps_contact_details_out_of_messages(crm: ClinicCRM, clinic: Clinic) -> None:
    cid = clinic.id or 0
    with pytest.raises(ValidationError) as err:
        crm.crisis.set_member(cid, role="janitor", name="X")
    assert err.value.field == "role"
    with pytest.raises(InvalidPhoneNumber) as phone_err:
        crm.crisis.set_member(cid, role="lead", name="X", phone="12-NOT-A-NUMBER-99")
    assert "12-NOT" not in str(phone_err.value)
    with pytest.raises(InvalidEmail) as mail_err:
        crm.crisis.set_member(cid, role="lead", name="X", email="secret.person@@example")
    assert "secret.person" not in str(mail_err.value)
    assert count_rows(crm, "crisis_team_member") == 0
    with pytest.raises(NotFound):
        crm.crisis.team(cid + 99)


def test_contacts(crm: ClinicCRM, clinic: Clinic) -> None:
    cid = clinic.id or 0
    lawyer = crm.crisis.add_contact(cid, kind="lawyer", name="Lee & Partners", phone="02-2345-6789", note="24h line")
    crm.crisis.add_contact(cid, kind="regulator", name="Health Bureau", email="bureau@example.gov")
    assert isinstance(lawyer.id, int) and lawyer.phone == "+886223456789"
    assert [(c.kind, c.name, c.note) for c in crm.crisis.contacts(cid)] == [
        ("lawyer", "Lee & Partners", "24h line"),
        ("regulator", "Health Bureau", None),
    ]
    with pytest.raises(ValidationError) as err:
        crm.crisis.add_contact(cid, kind="astrologer", name="X")
    assert err.value.field == "kind"
    assert count_rows(crm, "crisis_contact") == 2


def test_playbooks(crm: ClinicCRM, clinic: Clinic) -> None:
    cid = clinic.id or 0
    with pytest.raises(NotFound):
        crm.crisis.playbook(cid, "data_breach")
    crm.crisis.set_playbook(
        cid, crisis_type="data_breach", steps=["Contain", "Tell staff"], holding_statement="We know."
    )
    book = crm.crisis.set_playbook(
        cid, crisis_type="data_breach", steps=["Contain"], holding_statement={"zh_TW": "我們已知悉。", "en": "We know."}
    )
    found = crm.crisis.playbook(cid, "data_breach")
    assert found.id == book.id
    assert (found.crisis_type, found.steps, found.holding_statement) == (
        "data_breach",
        ["Contain"],
        {"zh_TW": "我們已知悉。", "en": "We know."},
    )
    for bad, field in (
        ({"crisis_type": "alien", "steps": ["a"], "holding_statement": "x"}, "crisis_type"),
        ({"crisis_type": "other", "steps": [], "holding_statement": "x"}, "steps"),
        ({"crisis_type": "other", "steps": "a", "holding_statement": "x"}, "steps"),
        ({"crisis_type": "other", "steps": ["a"], "holding_statement": ""}, "holding_statement"),
        ({"crisis_type": "other", "steps": ["a"], "holding_statement": {"xx_NOPE": "x"}}, "holding_statement"),
        ({"crisis_type": "other", "steps": ["a"], "holding_statement": {}}, "holding_statement"),
    ):
        with pytest.raises(ValidationError) as err:
            crm.crisis.set_playbook(cid, **bad)  # type: ignore[arg-type]
        assert err.value.field == field
    assert count_rows(crm, "crisis_playbook") == 1


def test_approvers_default_to_lead(crm: ClinicCRM, clinic: Clinic) -> None:
    cid = clinic.id or 0
    assert crm.crisis.approvers(cid) == ("lead",)
    assert crm.crisis.set_approvers(cid, ["lead", "legal", "lead"]) == ("lead", "legal")
    assert crm.crisis.approvers(cid) == ("lead", "legal")
    for bad in ([], ["boss"], 5):
        with pytest.raises(ValidationError) as err:
            crm.crisis.set_approvers(cid, bad)  # type: ignore[arg-type]
        assert err.value.field == "roles"
    assert crm.crisis.approvers(cid) == ("lead", "legal")


def _ok(crm: ClinicCRM, cid: int, now: object = T0) -> dict[str, bool]:
    readiness = crm.crisis.readiness(cid, now=now)  # type: ignore[arg-type]
    assert [c.name for c in readiness.checks] == NAMES
    assert readiness.score == round(100 * sum(c.ok for c in readiness.checks) / 6)
    assert all(isinstance(c.detail, str) and c.detail for c in readiness.checks)
    return {c.name: c.ok for c in readiness.checks}


def test_readiness_six_checks(crm: ClinicCRM, clinic: Clinic) -> None:
    cid = clinic.id or 0
    assert crm.crisis.readiness(cid, now=T0).score == 0
    assert not any(_ok(crm, cid).values())
    crm.crisis.set_member(cid, role="lead", name="Dr. Chen")  # no phone: not enough
    crm.crisis.set_member(cid, role="spokesperson", name="Amy", phone="0922-333-444")
    assert _ok(crm, cid) == dict.fromkeys(NAMES, False) | {"spokesperson": True}
    assert crm.crisis.readiness(cid, now=T0).score == 17
    crm.crisis.set_member(cid, role="lead", name="Dr. Chen", phone="0912-345-678")
    crm.crisis.add_contact(cid, kind="lawyer", name="Lee & Partners")
    for crisis_type in ("data_breach", "medical_error"):
        crm.crisis.set_playbook(cid, crisis_type=crisis_type, steps=["a"], holding_statement="We know.")
    assert _ok(crm, cid)["legal_contact"] and not _ok(crm, cid)["playbooks"]
    crm.crisis.set_playbook(cid, crisis_type="negative_publicity", steps=["a"], holding_statement="We listen.")
    assert crm.crisis.readiness(cid, now=T0).score == 67
    drill_at = T0 - timedelta(days=300)
    crm.incidents.declare(cid, title="Drill", crisis_type="data_breach", at=drill_at, by="Dr. Chen", drill=True)
    crm.incidents.declare(cid, title="Real", crisis_type="other", at=T0 - timedelta(days=10), by="Dr. Chen")
    assert _ok(crm, cid)["drill"]
    assert not _ok(crm, cid, drill_at + timedelta(days=365))["drill"]  # exactly 365 days later: too old
    assert not _ok(crm, cid, drill_at - timedelta(seconds=1))["drill"]  # not yet declared
    assert not _ok(crm, cid)["risks_reviewed"]  # no active risk
    risk = crm.risks.add(
        cid, title="Flood", category="operations", severity=5, occurrence=2, detection=2, at=T0, review_every="1 month"
    )
    assert crm.crisis.readiness(cid, now=T0).score == 100
    assert not _ok(crm, cid, T0 + timedelta(days=31))["risks_reviewed"]
    crm.risks.retire(risk.id or 0, at=T0, by="x", reason="gone")
    assert not _ok(crm, cid)["risks_reviewed"]


def test_legal_member_counts_as_legal_contact(crm: ClinicCRM, clinic: Clinic) -> None:
    cid = clinic.id or 0
    crm.crisis.set_member(cid, role="legal", name="Mr. Wu")
    assert _ok(crm, cid)["legal_contact"]
