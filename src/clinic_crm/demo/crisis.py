"""Demo crisis readiness for ``clinic-crm demo``: a prepared clinic (team, lawyer, three playbooks, risks)
and one drill, run through the whole flow (staff statement, public statement, close) without sending anything."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from clinic_crm.testing import RecordingPublisher

if TYPE_CHECKING:
    from clinic_crm.crm import ClinicCRM

__all__ = ["seed_demo_crisis"]

PLAYBOOKS = {
    "data_breach": (
        ["Isolate the affected system", "Tell staff", "Call the lawyer", "Notify the regulator", "Tell patients"],
        {
            "zh_TW": "本診所發現部分資料可能遭不當存取，已立即處理並通報主管機關，後續將主動通知受影響的病患。",
            "en": "We found that some data may have been accessed without permission. We acted at once, informed the "
            "authorities, and will contact every patient affected.",
        },
    ),
    "medical_error": (
        ["Care for the patient first", "Secure the records", "Tell staff", "Call the insurer"],
        {
            "zh_TW": "我們正在了解事件經過，並全力照顧相關病患。",
            "en": "We are looking into what happened and caring for the patient involved.",
        },
    ),
    "negative_publicity": (
        ["Listen before answering", "Check the facts", "Answer once, calmly, as the clinic"],
        {
            "zh_TW": "感謝您的意見，我們正在了解，稍後會回覆。",
            "en": "Thank you for telling us. We are looking into it and will reply.",
        },
    ),
}

RISKS = (
    ("Appointment list exposed by a misconfigured share", "information_security", 8, 3, 5),
    ("Wrong patient called for a procedure", "patient_safety", 9, 2, 3),
    ("Autoclave failure", "operations", 6, 2, 2),
)


def seed_demo_crisis(crm: ClinicCRM, clinic_id: int, *, now: datetime) -> dict[str, int]:
    """Prepare one demo clinic for a crisis and run a drill a month before ``now``.

    Returns:
        The readiness score and how many risks, playbooks and drills were made.
    """
    crm.crisis.set_member(clinic_id, role="lead", name="陳院長", phone="0912-345-901", email="lead@example.org")
    crm.crisis.set_member(clinic_id, role="spokesperson", name="林經理", phone="0912-345-902")
    crm.crisis.set_member(clinic_id, role="medical", name="王醫師", phone="0912-345-903")
    crm.crisis.add_contact(clinic_id, kind="lawyer", name="Lee & Partners", phone="02-2123-4901", note="24 h line")
    crm.crisis.add_contact(clinic_id, kind="regulator", name="Department of Health")
    for crisis_type, (steps, holding_text) in PLAYBOOKS.items():
        crm.crisis.set_playbook(clinic_id, crisis_type=crisis_type, steps=steps, holding_statement=holding_text)
    assessed = now - timedelta(days=60)
    risk_ids = [
        crm.risks.add(
            clinic_id,
            title=title,
            category=category,
            severity=s,
            occurrence=o,
            detection=d,
            at=assessed,
            owner="陳院長",
        ).id
        for title, category, s, o, d in RISKS
    ]
    at = now - timedelta(days=30)
    drill = crm.incidents.declare(
        clinic_id,
        title="Yearly drill: appointment list leaked",
        crisis_type="data_breach",
        at=at,
        by="陳院長",
        drill=True,
        risk_ids=[rid for rid in risk_ids if rid is not None][:1],
    )
    iid = drill.id or 0
    holding = PLAYBOOKS["data_breach"][1]
    publisher = RecordingPublisher()  # a drill hands it nothing
    for minutes, audience in ((20, "staff"), (60, "public")):
        when = at + timedelta(minutes=minutes)
        statement = crm.incidents.draft(iid, audience=audience, text=holding, at=when, by="林經理")
        crm.incidents.approve(statement.id or 0, role="lead", by="陳院長", at=when)
        crm.incidents.publish(statement.id or 0, at=when, publisher=publisher, channels=["website"])
    crm.incidents.log(iid, at=at + timedelta(minutes=90), by="陳院長", text="Drill debrief: lawyer reached in 9 min.")
    crm.incidents.close(iid, at=at + timedelta(hours=2), by="陳院長", summary="Drill done within the 2-hour clock.")
    # the drill sent the first risk to review: review it the same day, as the debrief decided
    crm.risks.review(risk_ids[0] or 0, at=at + timedelta(hours=3), by="陳院長", note="Share permissions audited.")
    score = crm.crisis.readiness(clinic_id, now=now).score
    return {"readiness": score, "risks": len(risk_ids), "playbooks": len(PLAYBOOKS), "drills": 1}
