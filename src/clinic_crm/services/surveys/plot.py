"""The NPS-by-month chart (matplotlib, an optional dependency imported on first use).

The figure is built with ``matplotlib.figure.Figure`` directly — no ``pyplot``, no GUI
backend, no global state — so it is safe in servers, threads and the Agg backend;
``fig.savefig("nps.png")`` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from clinic_crm.services.surveys.stats import GroupKey, NpsResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["nps_figure"]

_INSTALL_HINT = "pip install 'clinic-crm[analysis]'"


def nps_figure(by_month: Mapping[GroupKey, NpsResult], *, title: str = "Net Promoter Score by month") -> Figure:
    """Draw monthly NPS with its 95 % margin of error as error bars.

    Months whose score is suppressed (fewer responses than ``min_responses``) or empty are
    shown on the axis with ``n=…`` and no point.

    Args:
        by_month: the result of ``nps(by="month")``.
        title: the figure's title.

    Returns:
        A ``matplotlib.figure.Figure`` (one axes: x = month, y = NPS in −100…100).

    Raises:
        ImportError: matplotlib is not installed (``pip install 'clinic-crm[analysis]'``).
    """
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(f"the NPS chart needs matplotlib, an optional dependency: {_INSTALL_HINT}") from exc

    labels = [str(k) for k in by_month]
    results = list(by_month.values())
    fig = Figure(figsize=(max(6.0, 0.6 * len(labels) + 2.0), 4.0), layout="constrained")
    ax = fig.add_subplot()
    xs = list(range(len(labels)))
    shown = [(x, r.score, r.margin_of_error or 0.0) for x, r in zip(xs, results, strict=True) if r.score is not None]
    if shown:
        ax.errorbar(
            [x for x, _, _ in shown],
            [y for _, y, _ in shown],
            yerr=[e for _, _, e in shown],
            fmt="o-",
            capsize=4,
            label="NPS ± 95 % margin of error",
        )
        ax.legend(loc="lower left")
    for x, r in zip(xs, results, strict=True):
        if r.score is None:
            ax.annotate(f"n={r.responses}", (x, 0), ha="center", va="bottom", color="grey", fontsize=8)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(xs, labels, rotation=45 if len(labels) > 6 else 0)
    ax.set_ylim(-100, 100)
    ax.set_xlim(-0.5, max(len(labels) - 0.5, 0.5))
    ax.set_ylabel("NPS")
    ax.set_xlabel("month (clinic's time zone)")
    ax.set_title(title)
    return fig
