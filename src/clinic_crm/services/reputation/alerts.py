"""Alerts: the negative-spike check, listing, dismissing, and escalation to an incident."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from clinic_crm.errors import Conflict, ValidationError
from clinic_crm.models import Alert, Clinic, Incident, Mention
from clinic_crm.services._common import check_id, get_or_404, require_text
from clinic_crm.services.aggregates import count_if
from clinic_crm.services.reputation.spikes import BASELINE_DAYS, WINDOW, spike_check
from clinic_crm.values import aware

__all__ = ["check_spikes", "list_alerts", "dismiss_alert", "escalate_alert"]

_MENTION = Mention.__table__  # type: ignore[attr-defined]
_ALERT = Alert.__table__  # type: ignore[attr-defined]


def check_spikes(session: Session, clinic_id: int, *, now: datetime) -> list[Alert]:
    """Open a ``"negative_spike"`` alert when the last 24 hours hold an unusual number of negative mentions.

    ``k`` = negative mentions with ``posted_at`` in ``[now − 24 h, now)``; ``λ`` = their daily mean over the
    28 days before that, at least 0.5.  An alert opens when ``k ≥ 3`` and ``P(Poisson(λ) ≥ k) < 0.001``, unless
    the clinic already has a negative-spike alert (of any status) opened less than 24 hours before or after
    ``now``.  Meant to run from cron (``clinic-crm reputation check``); several runs at once open one alert.

    Args:
        clinic_id: the clinic.
        now: the end of the 24-hour window (aware).

    Returns:
        The alerts this call opened (none or one).

    Raises:
        NotFound: no such clinic.
        NaiveDatetimeError: ``now`` without a time zone.
    """
    at = aware(now, "now")
    get_or_404(session, Clinic, clinic_id, for_update=True)  # one checker per clinic at a time
    m = _MENTION
    window_start = at - WINDOW
    row = session.execute(
        select(count_if(m.c.posted_at >= window_start), count_if(m.c.posted_at < window_start)).where(
            m.c.clinic_id == clinic_id,
            m.c.sentiment == "negative",
            m.c.posted_at >= window_start - timedelta(days=BASELINE_DAYS),
            m.c.posted_at < at,
        )
    ).one()
    check = spike_check(int(row[0]), int(row[1]))
    if not check.spike:
        return []
    recent = session.scalar(
        select(_ALERT.c.id).where(
            _ALERT.c.clinic_id == clinic_id,
            _ALERT.c.kind == "negative_spike",
            _ALERT.c.opened_at > at - WINDOW,
            _ALERT.c.opened_at < at + WINDOW,
        )
    )
    if recent is not None:
        return []
    alert = Alert(
        clinic_id=clinic_id,
        kind="negative_spike",
        mention_id=None,
        opened_at=at,
        detail=(
            f"{check.count} negative mentions in the 24 h before {at.isoformat()}; "
            f"baseline {check.rate:.2f}/day over {BASELINE_DAYS} days; "
            f"P(Poisson >= {check.count}) = {check.p_value:.2e}"
        ),
    )
    session.add(alert)
    session.flush()
    return [alert]


def list_alerts(session: Session, clinic_id: int, *, open: bool = True) -> list[Alert]:  # noqa: A002 - the contract's name
    """The clinic's alerts, newest first: the open ones, or with ``open=False`` all of them.

    Raises:
        NotFound: no such clinic.
    """
    get_or_404(session, Clinic, clinic_id)
    a = _ALERT
    stmt = select(Alert).where(a.c.clinic_id == clinic_id)
    if open:
        stmt = stmt.where(a.c.status == "open")
    return list(session.scalars(stmt.order_by(a.c.opened_at.desc(), a.c.id.desc())))


def dismiss_alert(session: Session, alert_id: int, *, at: datetime, by: str, note: str) -> Alert:
    """Close an open alert as needing nothing more (``status="dismissed"``), saying who and why.

    Raises:
        NotFound: no such alert.
        ValidationError: a blank ``by`` or ``note``; ``at`` not a datetime.
        NaiveDatetimeError: ``at`` without a time zone.
        Conflict: the alert is not open (already dismissed or escalated).
    """
    when = aware(at, "at")
    who = require_text(by, "by", max_length=200)
    why = require_text(note, "note", max_length=2000)
    alert = get_or_404(session, Alert, alert_id, for_update=True)
    if alert.status != "open":
        raise Conflict(f"alert {alert_id} is {alert.status}; only an open alert can be dismissed")
    alert.status, alert.dismissed_at, alert.dismissed_by, alert.dismiss_note = "dismissed", when, who, why
    session.flush()
    return alert


def escalate_alert(session: Session, alert_id: int, *, incident_id: int, at: datetime) -> Alert:
    """Link an alert to the incident declared from it and set its status ``"escalated"`` (for ``incidents.declare``).

    Escalating again to the same incident changes nothing.

    Raises:
        NotFound: no such alert (or an ``incident_id`` outside the id range).
        ValidationError: ``incident_id`` not an integer, or an incident of another clinic (field ``"alert_id"``).
        NaiveDatetimeError: ``at`` without a time zone.
        Conflict: the alert was dismissed, or escalated to another incident.
    """
    when = aware(at, "at")
    check_id(incident_id, "incident_id")
    alert = get_or_404(session, Alert, alert_id, for_update=True)
    incident = session.get(Incident, incident_id)
    if incident is not None and incident.clinic_id != alert.clinic_id:
        raise ValidationError(
            f"alert {alert_id} belongs to another clinic than incident {incident_id}", field="alert_id"
        )
    if alert.status == "escalated" and alert.incident_id == incident_id:
        return alert
    if alert.status != "open":
        raise Conflict(f"alert {alert_id} is {alert.status}; only an open alert can be escalated")
    alert.status, alert.incident_id, alert.escalated_at = "escalated", incident_id, when
    session.flush()
    return alert
