"""The NPS-by-month chart (matplotlib, an optional dependency imported on first use).

The figure is built with ``matplotlib.figure.Figure`` directly — no ``pyplot``, no GUI
backend, no global state — so it is safe in servers, threads and the Agg backend;
``fig.savefig("nps.png")`` writes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from clinic_crm.api._unit import reads
from clinic_crm.services.clinics import get_clinic
from clinic_crm.services.surveys.stats import GroupKey, NpsResult, nps

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_nps", "nps_figure", "drawable", "CJK_FONTS"]

_INSTALL_HINT = "pip install 'clinic-crm[analysis]'"

#: Fonts tried, in order, for text that may hold a clinic's name in Chinese, Japanese or Korean.
CJK_FONTS = [
    "DejaVu Sans",
    "Noto Sans CJK TC",
    "Noto Sans CJK JP",
    "Microsoft JhengHei",
    "PingFang TC",
    "WenQuanYi Zen Hei",
]


def drawable(text: str) -> bool:
    """Whether the fonts of :data:`CJK_FONTS` installed here can draw every character of ``text``."""
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    fonts = []
    for family in CJK_FONTS:
        try:
            path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
        except ValueError:
            continue  # not installed here
        fonts.append(FT2Font(path))
    return all(any(font.get_char_index(ord(ch)) for font in fonts) for ch in text if not ch.isspace())


def nps_figure(
    by_month: Mapping[GroupKey, NpsResult], *, title: str = "Net Promoter Score by month", subtitle: str | None = None
) -> Figure:
    """Draw monthly NPS with its 95 % margin of error as error bars, and each month's number of responses.

    A month whose score is suppressed (fewer responses than ``min_responses``) or empty gets a grey band
    with ``n=… too few`` and no point, so it never reads as an NPS of 0.

    Args:
        by_month: the result of ``nps(by="month")``.
        title: the figure's title.
        subtitle: what the chart covers (clinic, survey, period, minimum responses), under the title.

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
            [x for x, _, _ in shown], [y for _, y, _ in shown], yerr=[e for _, _, e in shown], fmt="o-", capsize=4
        )
    for x, r in zip(xs, results, strict=True):
        if r.score is None:
            ax.axvspan(x - 0.4, x + 0.4, color="0.92", zorder=0)
            ax.annotate("too few\nto score", (x, 50), ha="center", va="center", color="grey", fontsize=8)
        ax.annotate(f"n={r.responses}", (x, -95), ha="center", va="bottom", color="0.35", fontsize=8)
    ax.axhline(0, color="grey", linewidth=0.8)
    ax.set_xticks(xs, labels, rotation=45 if len(labels) > 6 else 0)
    ax.set_ylim(-100, 100)
    ax.set_xlim(-0.5, max(len(labels) - 0.5, 0.5))
    ax.set_ylabel("NPS (bars: 95 % margin of error)")
    ax.set_xlabel("month (clinic's time zone)")
    if subtitle:
        fig.suptitle(title)
        ax.set_title(subtitle, fontsize=9, color="0.3", fontfamily=CJK_FONTS)
    else:
        ax.set_title(title)
    return fig


@reads
def plot_nps(
    session: Session,
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
        NotFound: no such clinic.
        NaiveDatetimeError, ValidationError: as ``nps``.
    """
    by_month = nps(
        session,
        clinic_id=clinic_id,
        survey_id=survey_id,
        since=since,
        until=until,
        by="month",
        min_responses=min_responses,
    )
    assert isinstance(by_month, dict)
    scope = "all clinics"
    if clinic_id is not None:
        name = get_clinic(session, clinic_id).name
        scope = name if drawable(name) else f"clinic {clinic_id}"  # no font here for its script
    parts = [scope]
    if survey_id is not None:
        parts.append(f"survey {survey_id}")
    if since is not None or until is not None:
        start = "…" if since is None else since.date().isoformat()
        end = "…" if until is None else until.date().isoformat()
        parts.append(f"{start} – {end}")
    if min_responses:
        parts.append(f"months with fewer than {min_responses} responses get no score")
    return nps_figure(by_month, title=title, subtitle=" · ".join(parts))
