"""Demo survey data: a survey per clinic, invitations for the completed visits, a year of realistic answers.

Called by the demo (``clinic-crm demo``) after it has made clinics, patients and visits.  Everything
goes through the facade's survey calls, in one transaction, so the data obey the same rules as
real data (tokens, follow-ups, reminders).  Invitations for visits completed in the last two days
are sent as reminders; older ones are back-filled without a reminder (nobody should get a survey
link about a visit of last spring).
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import col

from clinic_crm.errors import NotFound
from clinic_crm.models import FollowUp, Invitation, Visit
from clinic_crm.surveys_types import Question
from clinic_crm.values import aware

if TYPE_CHECKING:  # the facade is passed in; nothing below it imports it at run time
    from clinic_crm.crm import ClinicCRM

__all__ = ["DEMO_SURVEY_NAME", "DEMO_QUESTIONS", "seed_demo_surveys"]

DEMO_SURVEY_NAME = "After your visit"
DEMO_QUESTIONS = [
    Question(
        "recommend",
        "nps",
        {
            "en": "How likely are you to recommend us to a friend or family member?",
            "zh_TW": "您有多大可能向親友推薦我們？",
        },
    ),
    Question(
        "overall",
        "rating",
        {"en": "Overall, how satisfied were you with your visit?", "zh_TW": "您對這次看診的整體滿意度？"},
    ),
    Question(
        "waiting",
        "choice",
        {"en": "How long did you wait?", "zh_TW": "您等候了多久？"},
        options=["under_10_min", "10_to_30_min", "over_30_min"],
        required=False,
    ),
    Question(
        "comment",
        "text",
        {"en": "Anything we could do better?", "zh_TW": "有什麼我們可以做得更好的地方嗎？"},
        required=False,
    ),
]
ANSWER_RATE = 0.6
BACKFILL = timedelta(days=400)
SEND_WINDOW = timedelta(days=2)
# how well each practitioner tends to do: shifts the chance of a promoter (and of a detractor the other way)
PRACTITIONER_MOOD = {"Dr. Lin": 0.12, "Dr. Chen": 0.0, "Dr. Wu": -0.12, "Dr. Huang": 0.05}
COMMENTS = {
    "good": ["醫師很細心，謝謝！", "Very friendly staff.", "櫃台人員很親切", "Quick and painless, thank you."],
    "meh": ["等候時間有點久", "Parking was hard to find.", "希望可以線上預約", "OK overall."],
    "bad": ["等了超過一小時", "The doctor seemed rushed.", "收費說明不清楚", "Nobody called me back about my results."],
}


def _nps(rng: random.Random, mood: float, trend: float) -> int:
    roll = rng.random()
    promoter = 0.5 + mood + trend
    detractor = 0.18 - mood / 2 - trend / 2
    if roll < promoter:
        return rng.choice([9, 10, 10])
    if roll < 1 - detractor:
        return rng.choice([7, 8])
    return rng.choice([0, 2, 3, 4, 5, 5, 6, 6, 6])


def _answers(rng: random.Random, nps: int) -> dict[str, Any]:
    rating = max(1, min(5, round(nps / 2.2) + rng.choice([-1, 0, 0, 0, 1])))
    answers: dict[str, Any] = {"recommend": nps, "overall": rating}
    if rng.random() < 0.8:
        weights = (6, 3, 1) if nps >= 7 else (2, 3, 5)
        answers["waiting"] = rng.choices(["under_10_min", "10_to_30_min", "over_30_min"], weights=weights)[0]
    if rng.random() < 0.3:
        tone = "good" if nps >= 9 else "meh" if nps >= 7 else "bad"
        answers["comment"] = rng.choice(COMMENTS[tone])
    return answers


def seed_demo_surveys(crm: ClinicCRM, clinic_ids: list[int], *, now: datetime, rng: random.Random) -> dict[str, int]:
    """Create the demo survey in each clinic, invite its completed visits and answer about 60 % of them.

    Answers are spread over the past year (``answered_at`` a few hours to a few days after the
    invitation), vary by practitioner and improve slightly over time; detractors and low ratings
    open follow-ups, of which those due more than a week ago are closed with a note.

    Args:
        crm: the facade of the demo database (clinics, patients and visits already made).
        clinic_ids: the clinics to seed.
        now: the demo's "now"; nothing is answered after it.
        rng: the demo's seeded random generator.

    Returns:
        Counts: ``surveys``, ``invitations``, ``reminders`` (invitations sent as reminders),
        ``responses``, ``follow_ups`` (opened) and ``follow_ups_open``.
    """
    when = aware(now, "now")
    counts = dict.fromkeys(("surveys", "invitations", "reminders", "responses", "follow_ups", "follow_ups_open"), 0)
    with crm.transaction() as tx:
        session = tx.session
        assert session is not None
        survey_ids: list[int] = []
        # only invitations made by this call are answered, so running the demo twice answers nothing twice
        first_new = (session.scalar(select(func.max(col(Invitation.id)))) or 0) + 1
        follow_ups_before = session.scalar(select(func.count()).select_from(FollowUp)) or 0
        for clinic_id in clinic_ids:
            try:
                survey = tx.surveys.latest(clinic_id, DEMO_SURVEY_NAME)
            except NotFound:
                survey = tx.surveys.create(clinic_id, name=DEMO_SURVEY_NAME, questions=DEMO_QUESTIONS, now=when)
                counts["surveys"] += 1
            assert survey.id is not None
            survey_ids.append(survey.id)
            old = tx.surveys.invite_completed(
                survey.id, since=when - BACKFILL, until=when - SEND_WINDOW, at=None, send=False
            )
            recent = tx.surveys.invite_completed(survey.id, since=when - SEND_WINDOW, until=when, at=None, send=True)
            counts["invitations"] += old + recent
        rows = session.execute(
            select(col(Invitation.token), col(Invitation.sent_at), col(Invitation.expires_at), col(Visit.practitioner))
            .join(Visit, col(Visit.id) == col(Invitation.visit_id))
            .where(
                col(Invitation.survey_id).in_(survey_ids),
                col(Invitation.used_at).is_(None),
                col(Invitation.id) >= first_new,
            )
            .order_by(col(Invitation.sent_at), col(Invitation.id))
        ).all()
        counts["reminders"] = sum(
            1
            for (reminder_id,) in session.execute(
                select(col(Invitation.reminder_id)).where(
                    col(Invitation.survey_id).in_(survey_ids), col(Invitation.id) >= first_new
                )
            )
            if reminder_id is not None
        )
        year = timedelta(days=365)
        for token, sent_at, expires_at, practitioner in rows:
            if rng.random() >= ANSWER_RATE:
                continue
            answered_at = sent_at + timedelta(hours=rng.uniform(0.5, 96))
            if answered_at >= when or answered_at >= expires_at:
                continue
            trend = 0.1 * (1 - min(1.0, (when - answered_at) / year))  # a clinic that listens gets better
            nps = _nps(rng, PRACTITIONER_MOOD.get(practitioner or "", 0.0), trend)
            tx.surveys.submit(token, _answers(rng, nps), at=answered_at)
            counts["responses"] += 1
        follow_ups = [item for clinic_id in clinic_ids for item in tx.surveys.follow_ups(clinic_id)]
        counts["follow_ups"] = (session.scalar(select(func.count()).select_from(FollowUp)) or 0) - follow_ups_before
        for item in follow_ups:
            assert item.id is not None
            if item.due_at < when - timedelta(days=7):
                note = rng.choice(
                    ["Called back; apologised and rebooked.", "已致電關心，病人表示理解。", "Left a voicemail."]
                )
                tx.surveys.close_follow_up(item.id, note=note, at=item.due_at - timedelta(hours=rng.uniform(1, 30)))
            else:
                counts["follow_ups_open"] += 1
    return counts
