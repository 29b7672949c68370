"""The demo clinic: two clinics, their patients and a year of visits.

Everything is generated from a seeded random generator: the same seed gives
the same clinic.  No real person's data is involved.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from clinic_crm.crm import ClinicCRM  # the demo sits above the facade, like the CLI
from clinic_crm.values import utcnow

__all__ = [
    "DemoSummary",
    "build_demo_clinic",
    "FAMILY_ZH",
    "GIVEN_ZH",
    "FAMILY_EN",
    "GIVEN_EN",
    "VISIT_KINDS",
    "PRACTITIONERS",
]

FAMILY_ZH = "陳林黃張李王吳劉蔡楊許鄭謝郭洪曾邱廖賴周"
GIVEN_ZH = [
    "志明",
    "淑芬",
    "美玲",
    "俊傑",
    "怡君",
    "家豪",
    "雅婷",
    "建宏",
    "欣怡",
    "宗翰",
    "佳穎",
    "冠宇",
    "小明",
    "文華",
]
FAMILY_EN = ["Smith", "Johnson", "Garcia", "Nguyen", "Müller", "O'Brien", "Kowalski", "Silva", "Tanaka", "Kim"]
GIVEN_EN = [
    "Anna",
    "James",
    "Maria",
    "David",
    "Sofia",
    "Lucas",
    "Emma",
    "Noah",
    "Chloé",
    "Mateo",
    "Yuki",
    "Min-jun",
]
VISIT_KINDS = ["dental_checkup", "cleaning", "filling", "consultation", "vaccination"]
PRACTITIONERS = ["Dr. Lin", "Dr. Chen", "Dr. Wu", "Dr. Huang"]


@dataclass
class DemoSummary:
    """What the demo created, for printing."""

    clinics: list[int] = field(default_factory=list)
    patients: int = 0
    visits_by_status: dict[str, int] = field(default_factory=dict)
    extra: dict[str, object] = field(default_factory=dict)


#: Mobile numbers reserved for fiction, where a numbering plan has them (all validate with ``phonenumbers``):
#: Australia's ACMA list for films and creative works (0491 570 xxx …) and North America's 555-0100…0199.
#: The UK's Ofcom drama range (07700 900000–900999) is not used: ``phonenumbers`` treats it as invalid, so the
#: library would refuse it.
FICTIONAL_AU = [
    f"0491 {block}"
    for block in (
        "570 006",
        "570 156",
        "570 157",
        "570 158",
        "570 159",
        "570 110",
        "570 313",
        "570 737",
        "571 266",
        "571 491",
        "571 804",
        "572 549",
    )
]
FICTIONAL_US_AREAS = ("201", "212", "415", "617", "718")

#: Taiwan's NCC reserves no numbers for fiction.  The demo keeps its Taiwanese numbers in the 1,000-number blocks
#: around ``phonenumbers``' own example numbers (mobile 0912-345-xxx, home line 02-2123-4xxx), the numbers every
#: Taiwanese example in these docs uses, and sends them nowhere: ``clinic-crm demo`` dispatches into its outbox file.
TW_MOBILE_BLOCK = "0912345"
TW_HOME_BLOCK = "0221234"


def _tw_mobile(rng: random.Random) -> str:
    digits = f"{TW_MOBILE_BLOCK}{rng.randint(0, 999):03d}"
    style = rng.random()
    if style < 0.4:
        return f"{digits[:4]}-{digits[4:7]}-{digits[7:]}"
    if style < 0.8:
        return digits
    return f"+886 {digits[1:4]} {digits[4:7]} {digits[7:]}"


def _phone(rng: random.Random) -> str | None:
    roll = rng.random()
    if roll < 0.75:
        return _tw_mobile(rng)
    if roll < 0.82:  # a home line: SMS can't reach it
        return f"{TW_HOME_BLOCK[:2]}-{TW_HOME_BLOCK[2:]}-{rng.randint(0, 999):03d}"
    if roll < 0.86:
        return f"+61 {rng.choice(FICTIONAL_AU)[1:]}"
    if roll < 0.90:
        return f"+1 {rng.choice(FICTIONAL_US_AREAS)}-555-01{rng.randint(0, 99):02d}"
    return None


def build_demo_clinic(
    crm: ClinicCRM, *, rng: random.Random, patients: int = 400, now: datetime | None = None
) -> DemoSummary:
    """Create two clinics, ``patients`` patients (Taiwanese and international numbers) and a year of visits.

    Returns:
        A summary of what was created (counts only, no patient data).
    """

    now = now or utcnow()
    summary = DemoSummary()
    main = crm.clinics.create("Sunrise Dental 日昇牙醫", timezone="Asia/Taipei", locale="zh_TW", region="TW")
    branch = crm.clinics.create(
        "Harbour Family Practice", timezone="Asia/Taipei", locale="en_US", region="TW", quiet_hours=(time(22), time(8))
    )
    summary.clinics = [main.id, branch.id]
    crm.clinics.update(
        main.id,
        survey_url_template="https://sunrise.example/s/{token}",
        appointment_offsets=[1440, 120],
        birthday_greetings=True,
    )
    crm.clinics.update(branch.id, survey_url_template="https://harbour.example/s/{token}")
    statuses: dict[str, int] = {}
    with crm.transaction() as tx:
        for n in range(patients):
            clinic_id = main.id if rng.random() < 0.75 else branch.id
            international = rng.random() < 0.25
            family = rng.choice(FAMILY_EN) if international else rng.choice(FAMILY_ZH)
            given = rng.choice(GIVEN_EN) if international else rng.choice(GIVEN_ZH)
            email = f"patient{n}@example.com" if rng.random() < 0.6 else None
            phone = _phone(rng)
            patient = tx.patients.register(
                clinic_id,
                family_name=family,
                given_name=given,
                phone=phone,
                email=email,
                birth_date=(now - timedelta(days=rng.randint(3 * 365, 85 * 365))).date(),
                locale="en_US" if international else None,
                external_id=f"EMR-{n:05d}",
            )
            pid: int = patient.id
            if rng.random() < 0.55:
                tx.patients.grant_consent(pid, "sms", "marketing", source="front desk form", at=patient.created_at)
            if rng.random() < 0.05:
                tx.patients.withdraw_consent(pid, "sms", "care", source="phone call", at=patient.created_at)
            for _ in range(rng.randint(1, 4)):
                start = now - timedelta(days=rng.uniform(-30, 365))
                start = start.replace(minute=rng.choice([0, 20, 40]), second=0, microsecond=0)
                visit = tx.visits.book(
                    pid, starts_at=start, kind=rng.choice(VISIT_KINDS), practitioner=rng.choice(PRACTITIONERS)
                )
                vid: int = visit.id
                status = "booked"
                if start < now:
                    roll = rng.random()
                    if roll < 0.08:
                        tx.visits.cancel(vid, at=start - timedelta(days=1), reason="patient rescheduled")
                        status = "cancelled"
                    elif roll < 0.15:
                        tx.visits.mark_no_show(vid, at=start + timedelta(minutes=30))
                        status = "no_show"
                    else:
                        tx.visits.check_in(vid, at=start - timedelta(minutes=rng.randint(0, 15)))
                        tx.visits.start_care(vid, at=start + timedelta(minutes=rng.randint(0, 25)))
                        tx.visits.complete(vid, at=start + timedelta(minutes=rng.randint(30, 60)))
                        status = "completed"
                statuses[status] = statuses.get(status, 0) + 1
    summary.patients = patients
    summary.visits_by_status = statuses
    return summary
