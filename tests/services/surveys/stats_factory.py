"""Survey data for the statistics tests, written with Core bulk inserts (no service involved).

``seed(engine, items)`` stores one patient, visit, invitation and (when answered) response with
its answers per :class:`Resp`; ``reference_*`` compute the same metrics with pandas from the
items themselves, as the definitions say.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, insert, select

from clinic_crm.models import metadata

T = metadata.tables
QUESTIONS = [
    {"key": "recommend", "type": "nps", "text": "Would you recommend us?", "options": None, "required": True},
    {"key": "recommend_doctor", "type": "nps", "text": "…your doctor?", "options": None, "required": False},
    {"key": "overall", "type": "rating", "text": "Overall", "options": None, "required": False},
    {"key": "staff", "type": "rating", "text": "Staff", "options": None, "required": False},
    {"key": "visit_again", "type": "choice", "text": "Again?", "options": ["yes", "no"], "required": False},
    {"key": "comment", "type": "text", "text": "Anything else?", "options": None, "required": False},
]
_TOKENS = itertools.count(1)


@dataclass
class Resp:
    """One invitation about one visit, answered unless ``answered`` is False."""

    clinic: int
    at: datetime  # answered_at (the invitation was sent ``sent_before`` earlier)
    nps: int | None = None  # key "recommend"
    nps2: int | None = None  # key "recommend_doctor" (a second nps question)
    rating: int | None = None  # key "overall"
    rating2: int | None = None  # key "staff"
    choice: str | None = None
    comment: str | None = None
    kind: str = "checkup"
    practitioner: str | None = "Dr Lin"
    channel: str | None = "sms"
    answered: bool = True
    sent_before: timedelta = field(default_factory=lambda: timedelta(hours=3))
    survey: int | None = None  # survey id; default: the clinic's survey from seed()

    @property
    def sent_at(self) -> datetime:
        return self.at - self.sent_before


def _next_id(conn: Any, table: str) -> int:
    return int(conn.execute(select(func.coalesce(func.max(T[table].c.id), 0))).scalar_one()) + 1


def make_survey(engine: Engine, clinic_id: int, *, name: str = "After visit", version: int = 1) -> int:
    """Insert a survey with :data:`QUESTIONS`; return its id."""
    with engine.begin() as conn:
        sid = _next_id(conn, "survey")
        conn.execute(
            insert(T["survey"]).values(
                id=sid,
                clinic_id=clinic_id,
                name=name,
                version=version,
                questions=QUESTIONS,
                created_at=datetime(2020, 1, 1, tzinfo=UTC),
            )
        )
    return sid


def seed(engine: Engine, items: Sequence[Resp], *, surveys: dict[int, int] | None = None) -> dict[int, int]:
    """Store ``items``; return ``{clinic_id: survey_id}`` of the surveys used (created when missing)."""
    surveys = dict(surveys or {})
    for clinic in sorted({it.clinic for it in items if it.survey is None}):
        if clinic not in surveys:
            surveys[clinic] = make_survey(engine, clinic, name=f"After visit {next(_TOKENS)}")
    if not items:
        return surveys
    with engine.begin() as conn:
        pid, vid, iid, rid = (_next_id(conn, t) for t in ("patient", "visit", "invitation", "response"))
        patients: dict[int, int] = {}
        visits, invitations, responses, answers = [], [], [], []
        for it in items:
            if it.clinic not in patients:
                patients[it.clinic] = pid
                conn.execute(
                    insert(T["patient"]).values(
                        id=pid,
                        clinic_id=it.clinic,
                        family_name="Test",
                        given_name="Patient",
                        locale="en_US",
                        timezone="UTC",
                        created_at=it.at,
                        updated_at=it.at,
                    )
                )
                pid += 1
            survey = it.survey if it.survey is not None else surveys[it.clinic]
            visits.append(
                dict(
                    id=vid,
                    clinic_id=it.clinic,
                    patient_id=patients[it.clinic],
                    starts_at=it.sent_at - timedelta(hours=1),
                    kind=it.kind,
                    practitioner=it.practitioner,
                    status="completed",
                    created_at=it.sent_at,
                )
            )
            invitations.append(
                dict(
                    id=iid,
                    survey_id=survey,
                    clinic_id=it.clinic,
                    visit_id=vid,
                    token=f"tok-{next(_TOKENS)}",
                    sent_at=it.sent_at,
                    expires_at=it.sent_at + timedelta(days=14),
                    used_at=it.at if it.answered else None,
                    channel=it.channel,
                )
            )
            if it.answered:
                given: dict[str, Any] = {}
                for key, qtype, value in (
                    ("recommend", "nps", it.nps),
                    ("recommend_doctor", "nps", it.nps2),
                    ("overall", "rating", it.rating),
                    ("staff", "rating", it.rating2),
                    ("visit_again", "choice", it.choice),
                    ("comment", "text", it.comment),
                ):
                    if value is None:
                        continue
                    given[key] = value
                    answers.append(
                        dict(
                            response_id=rid,
                            question_key=key,
                            question_type=qtype,
                            int_value=value if isinstance(value, int) else None,
                            text_value=value if isinstance(value, str) else None,
                        )
                    )
                responses.append(
                    dict(
                        id=rid,
                        invitation_id=iid,
                        survey_id=survey,
                        clinic_id=it.clinic,
                        visit_id=vid,
                        answered_at=it.at,
                        answers=given,
                    )
                )
                rid += 1
            vid += 1
            iid += 1
        conn.execute(insert(T["visit"]), visits)
        conn.execute(insert(T["invitation"]), invitations)
        if responses:
            conn.execute(insert(T["response"]), responses)
        if answers:
            conn.execute(insert(T["answer"]), answers)
    return surveys


def wipe(engine: Engine) -> None:
    """Delete every survey, visit and patient row (clinics stay)."""
    with engine.begin() as conn:
        for name in (
            "follow_up",
            "answer",
            "response",
            "invitation",
            "reminder",
            "visit",
            "consent_event",
            "patient",
            "survey",
        ):
            if name in T:
                conn.execute(T[name].delete())


# --------------------------------------------------------------------------- pandas reference


def items_frame(items: Iterable[Resp], zones: dict[int, str]) -> pd.DataFrame:
    """The items as a DataFrame with month labels of answered_at and sent_at in each clinic's zone."""
    df = pd.DataFrame([vars(it) | {"sent_at": it.sent_at} for it in items])
    if df.empty:
        return df
    df["at"] = pd.to_datetime(df["at"], utc=True)
    df["sent_at"] = pd.to_datetime(df["sent_at"], utc=True)
    month = pd.Series("", index=df.index, dtype=object)
    sent_month = pd.Series("", index=df.index, dtype=object)
    for clinic, idx in df.groupby("clinic").groups.items():
        tz = zones[int(clinic)]
        month[idx] = df.loc[idx, "at"].dt.tz_convert(tz).dt.strftime("%Y-%m")
        sent_month[idx] = df.loc[idx, "sent_at"].dt.tz_convert(tz).dt.strftime("%Y-%m")
    df["month"] = month
    df["sent_month"] = sent_month
    df["visit_kind"] = df["kind"]
    return df


def _key(by: str | None, rate: bool = False) -> str | None:
    if by == "month" and rate:
        return "sent_month"
    return {
        "clinic": "clinic",
        "practitioner": "practitioner",
        "visit_kind": "visit_kind",
        "month": "month",
        "channel": "channel",
        None: None,
    }[by]


def _filter(
    df: pd.DataFrame, col: str, clinic_id: int | None, since: datetime | None, until: datetime | None
) -> pd.DataFrame:
    if df.empty:
        return df
    if clinic_id is not None:
        df = df[df["clinic"] == clinic_id]
    if since is not None:
        df = df[df[col] >= pd.Timestamp(since)]
    if until is not None:
        df = df[df[col] < pd.Timestamp(until)]
    return df


def _groups(df: pd.DataFrame, key: str | None) -> list[tuple[Any, pd.DataFrame]]:
    if key is None:
        return [(None, df)]
    if df.empty:
        return []
    return [
        (None if pd.isna(k) else k, g)
        for k, g in df.groupby(df[key].astype(object).where(df[key].notna(), None), dropna=False)
    ]


def reference_nps(
    df: pd.DataFrame,
    *,
    by: str | None = None,
    clinic_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[Any, tuple[int, int, int]]:
    """``{group: (promoters, passives, detractors)}`` from the definition: first answered nps key in key order."""
    if df.empty:
        return {None: (0, 0, 0)} if by is None else {}
    df = _filter(df[df["answered"]], "at", clinic_id, since, until)
    # keys in order: "recommend" < "recommend_doctor"
    value = df["nps"].where(df["nps"].notna(), df["nps2"]) if not df.empty else df.get("nps")
    df = df.assign(value=value)
    df = df[df["value"].notna()]
    out = {}
    for k, g in _groups(df, _key(by)):
        v = g["value"].astype(int)
        out[k] = (int((v >= 9).sum()), int(v.between(7, 8).sum()), int((v <= 6).sum()))
    return out


def reference_csat(
    df: pd.DataFrame,
    *,
    by: str | None = None,
    clinic_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[Any, tuple[int, int]]:
    """``{group: (rating answers, of which 4–5)}``."""
    if df.empty:
        return {None: (0, 0)} if by is None else {}
    df = _filter(df[df["answered"]], "at", clinic_id, since, until)
    long = pd.concat([df.assign(r=df["rating"]), df.assign(r=df["rating2"])])
    long = long[long["r"].notna()]
    out = {}
    for k, g in _groups(long, _key(by)):
        r = g["r"].astype(int)
        out[k] = (len(r), int((r >= 4).sum()))
    return out


def reference_rate(
    df: pd.DataFrame,
    *,
    by: str | None = None,
    clinic_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[Any, tuple[int, int]]:
    """``{group: (invitations, answered)}`` by the time of sending."""
    if df.empty:
        return {None: (0, 0)} if by is None else {}
    df = _filter(df, "sent_at", clinic_id, since, until)
    return {k: (len(g), int(g["answered"].sum())) for k, g in _groups(df, _key(by, rate=True))}
