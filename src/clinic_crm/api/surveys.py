"""``crm.surveys``: surveys and their versions, invitations, responses, follow-ups and the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, overload

from clinic_crm.api._unit import UnitOfWork
from clinic_crm.models import FollowUp, Invitation, Response, Survey
from clinic_crm.services.clinics import get_clinic
from clinic_crm.services.surveys import follow_ups as _follow_ups
from clinic_crm.services.surveys import frame as _frame  # statistics
from clinic_crm.services.surveys import invitations as _invitations
from clinic_crm.services.surveys import plot as _plot  # statistics
from clinic_crm.services.surveys import responses as _responses
from clinic_crm.services.surveys import stats as _stats  # statistics
from clinic_crm.services.surveys import surveys as _surveys
from clinic_crm.surveys_types import Question

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure


class SurveysAPI:
    """Create surveys, invite patients, take responses and report the metrics."""

    def __init__(self, unit: UnitOfWork) -> None:
        self._unit = unit

    # --- surveys and versions -------------------------------------------------------------

    def create(self, clinic_id: int, *, name: str, questions: Sequence[Question | dict[str, Any]]) -> Survey:
        """Create a survey (version 1).

        Args:
            clinic_id: the clinic that runs it.
            name: unique within the clinic; later versions share it.
            questions: ``Question(key, type, text, options=None, required=True)`` items; types
                ``"nps"`` (0–10), ``"rating"`` (1–5), ``"choice"`` (``options`` required, unique) and
                ``"text"``; ``text`` is a ``str`` or a ``{locale: str}`` dict.

        Raises:
            NotFound: no such clinic.
            ValidationError: a malformed name or question (``.field`` names it, e.g. ``"questions[q1].options"``).
            Conflict: the clinic already has a survey of that name (use :meth:`update`).
        """
        return self._unit.run(_surveys.create_survey, clinic_id, name=name, questions=questions)

    def update(self, survey_id: int, *, questions: Sequence[Question | dict[str, Any]]) -> Survey:
        """Change a survey's questions; returns the survey version that now holds them.

        Once a version has responses its questions never change: a new version (same name,
        ``version + 1``, a new id) is created and returned.  Without responses the version is
        changed in place.  Identical questions change nothing.

        Raises:
            NotFound: no such survey.
            ValidationError: a malformed question.
            Conflict: ``survey_id`` is not the newest version.
        """
        return self._unit.run(_surveys.update_survey, survey_id, questions=questions)

    def new_version(self, survey_id: int, *, questions: Sequence[Question | dict[str, Any]]) -> Survey:
        """The same as :meth:`update` (kept for readability where a new version is expected)."""
        return self.update(survey_id, questions=questions)

    def get(self, survey_id: int) -> Survey:
        """Return one survey version; ``Survey.question_list`` gives its ``Question`` objects.  Raises ``NotFound``."""
        return self._unit.run(_surveys.get_survey, survey_id)

    def latest(self, clinic_id: int, name: str) -> Survey:
        """Return the newest version of the clinic's survey called ``name``.  Raises ``NotFound``."""
        return self._unit.run(_surveys.latest_survey, clinic_id, name)

    # --- invitations ----------------------------------------------------------------------

    def invite(
        self,
        survey_id: int,
        *,
        visit_id: int,
        at: datetime,
        expires_in: timedelta = _invitations.DEFAULT_EXPIRY,
        channel: str | None = None,
        send: bool = True,
    ) -> Invitation:
        """Invite the patient of a completed visit; the link goes out as a ``care`` reminder of kind ``"survey"``.

        The reminder is due ``clinic.survey_delay_minutes`` after the visit was completed (or at ``at``
        if later), its payload ``{"url": link, "survey_name": name}`` with the link made from
        ``clinic.survey_url_template``.  Without a template (or with ``send=False``) the invitation
        is made but no reminder is scheduled.

        Args:
            survey_id: the survey version to answer.
            visit_id: a completed visit of the survey's clinic.
            at: when the invitation is made; the token expires at ``at + expires_in``.
            expires_in: validity of the token (default 14 days).
            channel: force ``"sms"`` or ``"email"``; ``None`` lets the dispatcher choose.
            send: ``False`` schedules no reminder (e.g. the clinic prints a QR code).

        Returns:
            The ``Invitation`` with its unguessable single-use ``.token``.

        Raises:
            NotFound: no such survey or visit.
            ValidationError: the visit belongs to another clinic (``.field == "visit_id"``), bad ``expires_in``.
            Conflict: the visit is not completed, or already has an invitation to this survey (any version).
            NaiveDatetimeError: ``at`` is naive.
        """
        return self._unit.run(
            _invitations.invite,
            survey_id,
            visit_id=visit_id,
            at=at,
            expires_in=expires_in,
            channel=channel,
            send=send,
        )

    def invite_completed(
        self,
        survey_id: int,
        *,
        since: datetime,
        until: datetime,
        at: datetime,
        expires_in: timedelta = _invitations.DEFAULT_EXPIRY,
    ) -> int:
        """Invite every completed visit of the survey's clinic completed in ``[since, until)`` and not invited yet.

        For a nightly job; running it twice invites nobody twice.  Returns how many were invited.

        Raises:
            NotFound: no such survey.
            ValidationError: ``since`` not before ``until``.
            Conflict: a concurrent run invited one of the visits first (this run keeps nothing; run it again).
            NaiveDatetimeError: a naive datetime.
        """
        return self._unit.run(
            _invitations.invite_completed, survey_id, since=since, until=until, at=at, expires_in=expires_in
        )

    def get_invitation(self, invitation_id: int) -> Invitation:
        """Return one invitation.  Raises ``NotFound``."""
        return self._unit.run(_invitations.get_invitation, invitation_id)

    # --- responses ------------------------------------------------------------------------

    def submit(self, token: str, answers: dict[str, Any], *, at: datetime) -> Response:
        """Store the answers to the invitation carrying ``token``; the token is then used up.

        ``answers`` maps question keys to answers: an ``int`` for ``nps`` (0–10) and ``rating`` (1–5)
        (``bool`` is not an ``int`` here), one of the options for ``choice``, a string of at most
        2000 characters for ``text``.  Unknown keys are rejected.  An nps answer 0–6 or a rating 1–2
        opens a follow-up.  On any error nothing is stored and the token stays usable.

        Raises:
            UnknownToken: no invitation carries the token.
            TokenUsed: the invitation was answered already (also the loser of two concurrent submits).
            TokenExpired: ``at >= invitation.expires_at``.
            InvalidAnswer: ``.field`` is the question key (missing, unknown, wrong type, out of range…).
            ValidationError: ``answers`` is not a dict, or ``at`` is before the invitation was made.
            NaiveDatetimeError: ``at`` is naive.
        """
        return self._unit.run(_responses.submit, token, answers, at=at)

    def get_response(self, response_id: int) -> Response:
        """Return one response.  Raises ``NotFound``."""
        return self._unit.run(_responses.get_response, response_id)

    # --- follow-ups -----------------------------------------------------------------------

    def follow_ups(self, clinic_id: int, *, overdue: bool = False, now: datetime | None = None) -> list[FollowUp]:
        """The clinic's open follow-ups, soonest due first (``overdue=True``: only those due before ``now``).

        A ``FollowUp`` carries ids (``response_id``, ``visit_id``, ``patient_id``), ``reason``
        (``"detractor"``, ``"low_rating"`` or both, comma-joined), ``opened_at`` and ``due_at``.

        Raises:
            NotFound: no such clinic.
            NaiveDatetimeError: ``now`` is naive.
        """
        return self._unit.run(_follow_ups.list_follow_ups, clinic_id, overdue=overdue, now=now)

    def close_follow_up(self, follow_up_id: int, *, note: str, at: datetime) -> FollowUp:
        """Close a follow-up with a note of what staff did.

        Raises:
            NotFound: no such follow-up.
            ValidationError: an empty or over-long note (4000 characters); ``at`` before it was opened.
            Conflict: it is closed already.
            NaiveDatetimeError: ``at`` is naive.
        """
        return self._unit.run(_follow_ups.close_follow_up, follow_up_id, note=note, at=at)

    # ======================================================================================
    # --- statistics (nps, csat, response_rate, frame, plot_nps) ---------------------------
    # Owned by the statistics work: add the metric methods below this line; keep the methods
    # above unchanged.
    # ======================================================================================

    @overload
    def nps(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: None = None,
        min_responses: int | None = None,
    ) -> _stats.NpsResult: ...

    @overload
    def nps(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str,
        min_responses: int | None = None,
    ) -> dict[_stats.GroupKey, _stats.NpsResult]: ...

    def nps(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str | None = None,
        min_responses: int | None = None,
    ) -> _stats.NpsResult | dict[_stats.GroupKey, _stats.NpsResult]:
        """Net Promoter Score of the responses answered in ``[since, until)`` (one SQL aggregate).

        ``score = 100·(promoters − detractors)/responses`` with promoters 9–10, passives 7–8,
        detractors 0–6; ``margin_of_error`` is the 95 % half-width in NPS points.  A response
        counts once: if its survey has several nps questions, the first answered one by key order.

        Args:
            clinic_id, survey_id: restrict to one clinic / one survey version.
            since, until: aware datetimes bounding ``answered_at``.
            by: ``None``, or ``"month"`` (``"2026-03"`` in the clinic's time zone), ``"practitioner"``,
                ``"visit_kind"``, ``"clinic"`` for a ``dict`` of groups in key order.
            min_responses: results with fewer responses keep their counts, score and margin ``None``.

        Returns:
            ``NpsResult(score, responses, promoters, passives, detractors, margin_of_error)``, or a dict of them.

        Raises:
            NaiveDatetimeError: naive ``since``/``until``.
            ValidationError: unknown ``by``, ``min_responses < 1``, ``until < since``.
        """
        return self._unit.run(
            _stats.nps,
            clinic_id=clinic_id,
            survey_id=survey_id,
            since=since,
            until=until,
            by=by,
            min_responses=min_responses,
        )

    @overload
    def csat(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: None = None,
        min_responses: int | None = None,
    ) -> _stats.CsatResult: ...

    @overload
    def csat(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str,
        min_responses: int | None = None,
    ) -> dict[_stats.GroupKey, _stats.CsatResult]: ...

    def csat(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str | None = None,
        min_responses: int | None = None,
    ) -> _stats.CsatResult | dict[_stats.GroupKey, _stats.CsatResult]:
        """CSAT: percent of ``rating`` answers that are 4 or 5 (``responses`` = rating answers counted).

        Takes :meth:`nps`'s arguments; ``min_responses`` is compared with the number of rating answers.

        Raises:
            NaiveDatetimeError, ValidationError: as :meth:`nps`.
        """
        return self._unit.run(
            _stats.csat,
            clinic_id=clinic_id,
            survey_id=survey_id,
            since=since,
            until=until,
            by=by,
            min_responses=min_responses,
        )

    @overload
    def response_rate(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: None = None,
        min_responses: int | None = None,
    ) -> _stats.ResponseRate: ...

    @overload
    def response_rate(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str,
        min_responses: int | None = None,
    ) -> dict[_stats.GroupKey, _stats.ResponseRate]: ...

    def response_rate(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        by: str | None = None,
        min_responses: int | None = None,
    ) -> _stats.ResponseRate | dict[_stats.GroupKey, _stats.ResponseRate]:
        """``ResponseRate(invitations, responses, rate)`` of the invitations *sent* in ``[since, until)``.

        ``rate`` is a fraction 0–1.  Takes :meth:`nps`'s arguments; ``by`` may also be ``"channel"``;
        ``min_responses`` is compared with the number of invitations.

        Raises:
            NaiveDatetimeError, ValidationError: as :meth:`nps`.
        """
        return self._unit.run(
            _stats.response_rate,
            clinic_id=clinic_id,
            survey_id=survey_id,
            since=since,
            until=until,
            by=by,
            min_responses=min_responses,
        )

    def frame(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> pd.DataFrame:
        """The responses answered in ``[since, until)`` as a pandas DataFrame, one row per response.

        Indexed by ``response_id``; columns ``answered_at`` (aware UTC), ``clinic_id``, ``survey_id``,
        ``visit_kind`` and ``practitioner`` (categorical), then one column per question key (nps and
        rating as ``Int64``, choice and text as objects).  No patient names or contact data.

        Raises:
            ImportError: pandas is missing (``pip install 'clinic-crm[analysis]'``).
            NaiveDatetimeError, ValidationError: as :meth:`nps`.
        """
        return self._unit.run(_frame.survey_frame, clinic_id=clinic_id, survey_id=survey_id, since=since, until=until)

    def plot_nps(
        self,
        *,
        clinic_id: int | None = None,
        survey_id: int | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        min_responses: int | None = 5,
        title: str = "Net Promoter Score by month",
    ) -> Figure:
        """A matplotlib ``Figure`` of NPS by month with 95 % margin-of-error bars and each month's responses.

        The subtitle names the clinic (or "all clinics"), the survey, the period and the minimum.  Months with
        fewer than ``min_responses`` responses (default 5, as the NHS Friends and Family Test) show a grey band with
        their count and no point.  ``fig.savefig("nps.png")`` writes it (no GUI needed).

        Raises:
            ImportError: matplotlib is missing (``pip install 'clinic-crm[analysis]'``).
            NaiveDatetimeError, ValidationError: as :meth:`nps`.
        """
        by_month = self.nps(
            clinic_id=clinic_id, survey_id=survey_id, since=since, until=until, by="month", min_responses=min_responses
        )
        assert isinstance(by_month, dict)
        scope = "all clinics"
        if clinic_id is not None:
            name = self._unit.run(get_clinic, clinic_id).name
            scope = name if _plot.drawable(name) else f"clinic {clinic_id}"  # no font here for its script
        parts = [scope]
        if survey_id is not None:
            parts.append(f"survey {survey_id}")
        if since is not None or until is not None:
            start = "…" if since is None else since.date().isoformat()
            end = "…" if until is None else until.date().isoformat()
            parts.append(f"{start} – {end}")
        if min_responses:
            parts.append(f"months with fewer than {min_responses} responses get no score")
        return _plot.nps_figure(by_month, title=title, subtitle=" · ".join(parts))
