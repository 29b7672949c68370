"""seed_demo_surveys: a survey per clinic, invitations for completed visits, about 60 % answered over a year."""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlmodel import col

from clinic_crm import ClinicCRM
from clinic_crm.demo.surveys import DEMO_SURVEY_NAME, seed_demo_surveys
from clinic_crm.models import Clinic, Response
from tests.conftest import T0, count_rows
from tests.services.surveys.conftest import VisitFactory

NOW = T0 + timedelta(days=365)


def test_seed_demo_surveys(crm: ClinicCRM, sclinic: Clinic, completed_visit: VisitFactory) -> None:
    assert sclinic.id is not None
    rng = random.Random(3)
    visits = [completed_visit(NOW - timedelta(days=rng.uniform(0.1, 360))) for _ in range(60)]
    recent = sum(1 for v in visits if v.completed_at is not None and v.completed_at >= NOW - timedelta(days=2))

    counts = seed_demo_surveys(crm, [sclinic.id], now=NOW, rng=random.Random(11))

    assert counts["surveys"] == 1 and counts["invitations"] == 60 == count_rows(crm, "invitation")
    survey = crm.surveys.latest(sclinic.id, DEMO_SURVEY_NAME)
    kinds = [q.type for q in survey.question_list]
    assert kinds == ["nps", "rating", "choice", "text"]
    assert all(isinstance(q.text, dict) and set(q.text) == {"en", "zh_TW"} for q in survey.question_list)
    assert counts["reminders"] == recent == count_rows(crm, "reminder")
    assert 0.4 * 60 <= counts["responses"] <= 0.8 * 60
    assert counts["responses"] == count_rows(crm, "response")
    assert counts["follow_ups"] == count_rows(crm, "follow_up")
    with Session(crm.engine) as session:
        answered = list(session.scalars(select(col(Response.answered_at))))
    assert all(a < NOW for a in answered)
    months = {a.strftime("%Y-%m") for a in answered}
    assert len(months) >= 6  # spread over the year: the statistics have months to group
    assert len(crm.surveys.follow_ups(sclinic.id)) == counts["follow_ups_open"]

    again = seed_demo_surveys(crm, [sclinic.id], now=NOW, rng=random.Random(12))
    assert again == dict.fromkeys(again, 0) | {"follow_ups_open": counts["follow_ups_open"]}
    assert count_rows(crm, "response") == counts["responses"]
