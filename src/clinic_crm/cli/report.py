"""``clinic-crm report``: print NPS, CSAT or response rate as a table; ``--png`` writes the NPS chart.

Examples::

    clinic-crm report nps --db sqlite:///demo.db --by month
    clinic-crm report nps --db sqlite:///demo.db --clinic 1 --by practitioner --since 2026-01-01 --png nps.png
    clinic-crm report response-rate --db sqlite:///demo.db --by channel

``--since``/``--until`` take an ISO date (midnight in the clinic's time zone with ``--clinic``,
else UTC) or an ISO datetime with an offset (``2026-03-01T00:00+08:00``).  Groups with fewer
than ``--min-responses`` (default 5, as the NHS Friends and Family Test) show their counts and
``-`` for the score; ``--min-responses 0`` shows every score.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from clinic_crm.cli import add_csv_option, add_db_option, open_crm
from clinic_crm.errors import ValidationError
from clinic_crm.reporting import Cell, write_csv
from clinic_crm.services.surveys.stats import NPS_BY, RATE_BY, CsatResult, NpsResult, ResponseRate
from clinic_crm.values import aware, zone

METRICS = ("nps", "csat", "response-rate")
DEFAULT_MIN_RESPONSES = 5


def register(subparsers: Any) -> None:
    """Add the ``report`` sub-command."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "report",
        help="print survey metrics (NPS, CSAT, response rate) as a table",
        description="Print survey metrics as a table; --png writes the NPS-by-month chart.",
    )
    parser.add_argument("metric", choices=METRICS, help="which metric to report")
    add_db_option(parser)
    parser.add_argument("--clinic", type=int, default=None, metavar="ID", help="only this clinic")
    parser.add_argument("--survey", type=int, default=None, metavar="ID", help="only this survey version")
    parser.add_argument(
        "--by",
        choices=RATE_BY,
        default=None,
        help="group by month (clinic's time zone), practitioner, visit_kind, clinic (channel: response-rate only)",
    )
    parser.add_argument("--since", default=None, help="ISO date or datetime with offset; inclusive")
    parser.add_argument("--until", default=None, help="ISO date or datetime with offset; exclusive")
    parser.add_argument(
        "--min-responses",
        type=int,
        default=DEFAULT_MIN_RESPONSES,
        metavar="N",
        help="hide scores of groups with fewer responses (default %(default)s; 0 shows all)",
    )
    parser.add_argument("--png", default=None, metavar="FILE", help="also write the NPS-by-month chart to FILE")
    add_csv_option(parser)
    parser.set_defaults(handler=run)


def parse_instant(value: str | None, field: str, timezone: str) -> datetime | None:
    """An ISO date (midnight in ``timezone``) or an ISO datetime with an offset, as an aware UTC datetime.

    Raises:
        ValidationError: not an ISO date or datetime.
        NaiveDatetimeError: a datetime without an offset.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=zone(timezone)).astimezone(UTC)
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValidationError(f"--{field} must be an ISO date or datetime", field=field) from exc
    return aware(parsed, field)


def _fmt(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=True)]
    lines = [
        "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths, strict=True)))
    ]
    lines.append("  ".join("-" * w for w in widths))
    for row in rows:
        lines.append(
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        )
    return "\n".join(lines)


def _values(metric: str, label: str, result: Any) -> list[Cell]:
    """One table row as values: counts as ints, scores as floats (``None`` when hidden or undefined)."""
    if metric == "nps":
        assert isinstance(result, NpsResult)
        return [
            label,
            result.responses,
            result.promoters,
            result.passives,
            result.detractors,
            result.score,
            result.margin_of_error,
        ]
    if metric == "csat":
        assert isinstance(result, CsatResult)
        return [label, result.responses, result.satisfied, result.score]
    assert isinstance(result, ResponseRate)
    return [label, result.invitations, result.responses, None if result.rate is None else 100 * result.rate]


def _row(metric: str, label: str, result: Any) -> list[str]:
    return [_fmt(v) if v is None or isinstance(v, float) else str(v) for v in _values(metric, label, result)]


HEADERS = {
    "nps": ["group", "responses", "promoters", "passives", "detractors", "NPS", "±95%"],
    "csat": ["group", "ratings", "4-5", "CSAT %"],
    "response-rate": ["group", "invitations", "responses", "rate %"],
}


def table_values(grouped: Mapping[Any, Any] | None, total: Any, metric: str) -> list[list[Cell]]:
    """The report's rows as values: one per group (when grouped), then the total."""
    rows = [_values(metric, "(none)" if key is None else str(key), result) for key, result in (grouped or {}).items()]
    rows.append(_values(metric, "total", total))
    return rows


def render(metric: str, by: str | None, grouped: Mapping[Any, Any] | None, total: Any) -> str:
    """The report table: one line per group (when grouped) and a total line."""
    rows = [_row(metric, "(none)" if key is None else str(key), result) for key, result in (grouped or {}).items()]
    rows.append(_row(metric, "total", total))
    return _table(HEADERS[metric], rows)


def chart_metadata(fig: Any, path: str) -> dict[str, str] | None:
    """The chart's titles (they name the clinic and filters) as the PNG file's ``Title``, for file browsers."""
    if not path.lower().endswith(".png"):
        return None
    titles = [fig.get_suptitle(), *(ax.get_title() for ax in fig.axes)]
    return {"Title": " — ".join(t for t in titles if t)}


def run(args: argparse.Namespace) -> int:
    """Print the report for ``args``; write the chart when ``--png`` is given."""
    if args.by == "channel" and args.metric != "response-rate":
        raise ValidationError("--by channel is only for the response-rate report", field="by")
    if args.png and args.metric != "nps":
        raise ValidationError("--png draws the NPS-by-month chart: use it with 'report nps'", field="png")
    if args.min_responses < 0:
        raise ValidationError("--min-responses must be 0 or more", field="min_responses")
    min_responses = args.min_responses or None
    with open_crm(args) as crm:
        timezone = crm.clinics.get(args.clinic).timezone if args.clinic is not None else "UTC"
        filters: dict[str, Any] = {
            "clinic_id": args.clinic,
            "survey_id": args.survey,
            "since": parse_instant(args.since, "since", timezone),
            "until": parse_instant(args.until, "until", timezone),
            "min_responses": min_responses,
        }
        metrics: dict[str, Callable[..., Any]] = {
            "nps": crm.surveys.nps,
            "csat": crm.surveys.csat,
            "response-rate": crm.surveys.response_rate,
        }
        compute = metrics[args.metric]
        grouped = compute(by=args.by, **filters) if args.by is not None else None
        total = compute(**filters)
        title = {"nps": "NPS", "csat": "CSAT", "response-rate": "Response rate"}[args.metric]
        scope = f"clinic {args.clinic}" if args.clinic is not None else "all clinics"
        by_text = f" by {args.by}" if args.by else ""
        hidden = f"scores hidden below {min_responses} responses" if min_responses else "every score shown"
        print(f"{title}{by_text} — {scope}; {hidden}")
        assert grouped is None or isinstance(grouped, dict)
        print(render(args.metric, args.by, grouped, total))
        if args.csv:
            write_csv(args.csv, HEADERS[args.metric], table_values(grouped, total, args.metric))
            print(f"table written to {args.csv}")
        if args.png:
            fig = crm.surveys.plot_nps(
                clinic_id=args.clinic,
                survey_id=args.survey,
                since=filters["since"],
                until=filters["until"],
                min_responses=min_responses,
            )
            fig.savefig(args.png, metadata=chart_metadata(fig, args.png))
            print(f"chart written to {args.png}")
    return 0


__all__ = ["register", "run", "parse_instant", "render", "table_values", "METRICS", "NPS_BY"]
