"""Demo reminders for ``clinic-crm demo``: recall plans, greetings, a clinic template and a few one-off messages.

The demo calls :func:`seed_demo_reminders` after it created clinics, patients and visits; planning and
dispatching (``crm.reminders.plan`` / ``dispatch``) then turn them into messages.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

from clinic_crm.values import aware, zone

if TYPE_CHECKING:
    from clinic_crm.crm import ClinicCRM

__all__ = ["seed_demo_reminders", "RECALL_EVERY"]

#: The recall interval per visit kind used by the demo.
RECALL_EVERY = {"dental_checkup": "6 months", "cleaning": "6 months", "vaccination": "FREQ=YEARLY;INTERVAL=1"}


def seed_demo_reminders(crm: ClinicCRM, clinic_ids: list[int], *, now: datetime) -> dict[str, int]:
    """Add demo recall plans, greetings, templates and one-off reminders to existing demo clinics.

    * every patient with a completed ``dental_checkup``, ``cleaning`` or ``vaccination`` visit gets a
      recall plan (6 months; yearly RRULE for vaccinations);
    * each clinic gets a New Year greeting and a "clinic anniversary" greeting two days from ``now``
      (marketing: only patients who granted marketing consent receive it);
    * the first clinic gets its own zh_TW recall text;
    * the first three patients of each clinic get a "lab_results" care message due at ``now``.

    Args:
        crm: the facade (calls run in one transaction).
        clinic_ids: the demo's clinics.
        now: the demo's "now".

    Returns:
        Counts: ``care_plans``, ``greetings``, ``templates``, ``scheduled``.
    """
    now = aware(now, "now")
    counts = {"care_plans": 0, "greetings": 0, "templates": 0, "scheduled": 0}
    with crm.transaction() as tx:
        for position, clinic_id in enumerate(clinic_ids):
            timezone = tx.clinics.get(clinic_id).timezone
            completed = tx.visits.list(clinic_id, status="completed")
            recalls = sorted({(v.patient_id, v.kind) for v in completed if v.kind in RECALL_EVERY})
            for patient_id, kind in recalls:
                tx.reminders.add_recall(
                    patient_id, kind=f"{kind}_recall", every=RECALL_EVERY[kind], after_visit_kind=kind
                )
                counts["care_plans"] += 1
            soon = (now + timedelta(days=2)).astimezone(zone(timezone))
            tx.reminders.add_greeting(clinic_id, kind="new_year", month=1, day=1, local_time=time(9))
            tx.reminders.add_greeting(
                clinic_id, kind="clinic_anniversary", month=soon.month, day=soon.day, local_time=time(10)
            )
            counts["greetings"] += 2
            if position == 0:
                tx.reminders.set_template(
                    clinic_id,
                    kind="greeting",
                    channel="sms",
                    locale="zh_TW",
                    body="{clinic}感謝{name}一路以來的支持，祝您平安健康！",
                )
                counts["templates"] += 1
            for patient in tx.patients.find(clinic_id)[:3]:  # ordered by id
                assert patient.id is not None
                tx.reminders.schedule(patient.id, kind="lab_results", purpose="care", due_at=now)
                counts["scheduled"] += 1
    return counts
