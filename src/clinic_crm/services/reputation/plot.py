"""The reputation-by-month chart (matplotlib, an optional dependency imported on first use).

Built on ``matplotlib.figure.Figure`` directly (no ``pyplot``, no GUI backend): ``fig.savefig("rep.png")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.services.reputation.summary import ReputationSummary, summary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["reputation_figure", "plot_summary"]

_INSTALL_HINT = "pip install 'clinic-crm[analysis]'"


def reputation_figure(by_month: Mapping[str, ReputationSummary], *, title: str = "Reputation by month") -> Figure:
    """Draw the average rating (line, left axis 1–5) and the share of negative mentions (bars, right axis %).

    Args:
        by_month: the result of ``summary(by="month")``.
        title: the figure's title.

    Returns:
        A ``matplotlib.figure.Figure`` with two y axes sharing the months.

    Raises:
        ImportError: matplotlib is not installed (``pip install 'clinic-crm[analysis]'``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"the reputation chart needs matplotlib, an optional dependency: {_INSTALL_HINT}") from exc

    labels = list(by_month)
    results = list(by_month.values())
    xs = list(range(len(labels)))
    fig = Figure(figsize=(max(6.0, 0.6 * len(labels) + 2.0), 4.0), layout="constrained")
    shares = fig.add_subplot()
    shares.bar(xs, [100.0 * (r.negative_share or 0.0) for r in results], color="tab:red", alpha=0.35)
    shares.set_ylabel("negative mentions (%)")
    shares.set_ylim(0, 100)
    ratings = shares.twinx()
    shown = [(x, r.average_rating) for x, r in zip(xs, results, strict=True) if r.average_rating is not None]
    ratings.plot([x for x, _ in shown], [y for _, y in shown], "o-", color="tab:blue")
    ratings.set_ylabel("average rating (1-5)")
    ratings.set_ylim(1, 5)
    shares.set_xticks(xs, labels, rotation=45 if len(labels) > 6 else 0)
    shares.set_xlim(-0.5, max(len(labels) - 0.5, 0.5))
    shares.set_xlabel("month (clinic's time zone)")
    shares.set_title(title)
    return fig


@reads
def plot_summary(
    session: Session,
    *,
    clinic_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    title: str = "Reputation by month",
) -> Figure:
    """``summary(by="month")`` drawn by :func:`reputation_figure` (average rating and negative share).

    Raises:
        ImportError: matplotlib is not installed.
        ValidationError, NaiveDatetimeError: as ``summary``.
    """
    by_month = summary(session, clinic_id=clinic_id, since=since, until=until, by="month")
    assert isinstance(by_month, dict)
    return reputation_figure(by_month, title=title)
