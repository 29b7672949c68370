"""The demo: a realistic synthetic clinic, its reminders, its surveys and its crisis plan (``clinic-crm demo``).

The demo sits above the facade, like the CLI: it drives :class:`clinic_crm.ClinicCRM`
the way a clinic's own scripts would.  Everything comes from a seeded random
generator, so the same seed gives the same clinic; no real person's data is involved.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clinic_crm.crm import ClinicCRM
from clinic_crm.demo.clinic import DemoSummary, build_demo_clinic
from clinic_crm.demo.crisis import seed_demo_crisis
from clinic_crm.demo.reminders import seed_demo_reminders
from clinic_crm.demo.surveys import seed_demo_surveys
from clinic_crm.messaging.outbox import OutboxSender
from clinic_crm.services.surveys.stats import NpsResult
from clinic_crm.values import utcnow, zone

__all__ = ["DemoSummary", "build_demo"]


def _last_morning() -> datetime:
    """The latest 10:30 in Taipei at or before now: the demo's reminder run falls in office hours."""
    local = utcnow().astimezone(zone("Asia/Taipei"))
    morning = local.replace(hour=10, minute=30, second=0, microsecond=0)
    if morning > local:
        morning -= timedelta(days=1)
    return morning.astimezone(UTC)


def build_demo(
    crm: ClinicCRM,
    *,
    patients: int = 400,
    seed: int = 7,
    now: datetime | None = None,
    outbox: str | Path = "outbox.jsonl",
) -> DemoSummary:
    """Fill a migrated, empty database with the demo clinic, then run a reminder script's day.

    ``now`` defaults to the latest 10:30 Taipei time, so the dispatch falls outside quiet hours.

    Steps: clinics, patients and a year of visits; a satisfaction survey answered by about 60 %
    of the visits; recall plans and greetings; ``plan`` the next 7 days; ``dispatch`` what is due
    now into ``outbox`` (a JSON-lines file, nothing leaves the machine).

    Returns:
        Counts of what was created and sent (no patient data).
    """
    rng = random.Random(seed)
    now = now or _last_morning()
    summary = build_demo_clinic(crm, rng=rng, patients=patients, now=now)
    surveys = seed_demo_surveys(crm, summary.clinics, now=now, rng=rng)
    seeded = seed_demo_reminders(crm, summary.clinics, now=now)
    planned = crm.reminders.plan(now=now, horizon=timedelta(days=7))
    report = crm.reminders.dispatch(OutboxSender(outbox), now=now)
    summary.extra["surveys"] = ", ".join(f"{k} {v}" for k, v in surveys.items())
    summary.extra["reminders seeded"] = ", ".join(f"{k} {v}" for k, v in seeded.items())
    summary.extra["reminders planned (next 7 days)"] = planned
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(report.suppressed_by_reason.items())) or "none"
    summary.extra["dispatched now"] = (
        f"sent {report.sent}, suppressed {report.suppressed} ({reasons}), deferred {report.deferred} "
        f"(quiet hours), held {report.held}, failed {report.failed} -> {outbox}"
    )
    overall = crm.surveys.nps(min_responses=5)
    assert isinstance(overall, NpsResult)
    moe = f" ± {overall.margin_of_error:.1f}" if overall.margin_of_error is not None else ""
    score = f"{overall.score:.1f}" if overall.score is not None else "n/a"
    summary.extra["NPS (all clinics)"] = (
        f"{score}{moe} from {overall.responses} responses "
        f"({overall.promoters} promoters, {overall.passives} passives, {overall.detractors} detractors)"
    )
    by_clinic = crm.surveys.nps(by="clinic", min_responses=5)
    assert isinstance(by_clinic, dict)
    summary.extra["NPS by clinic"] = ", ".join(
        f"clinic {key}: {r.score:.1f} (n={r.responses})" if r.score is not None else f"clinic {key}: n={r.responses}"
        for key, r in by_clinic.items()
    )
    summary.extra["open follow-ups"] = sum(len(crm.surveys.follow_ups(cid)) for cid in summary.clinics)
    crisis = seed_demo_crisis(crm, summary.clinics[0], now=now)
    summary.extra["crisis readiness (first clinic)"] = (
        f"{crisis['readiness']}/100 ({crisis['risks']} risks, {crisis['playbooks']} playbooks, one drill)"
    )
    return summary
