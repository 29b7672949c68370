"""``crm.reputation``: reviews and mentions, alerts and safe replies."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup, service
from clinic_crm.services.reputation import alerts as _alerts
from clinic_crm.services.reputation import ingest as _ingest
from clinic_crm.services.reputation import mentions as _mentions
from clinic_crm.services.reputation import plot as _plot
from clinic_crm.services.reputation import summary as _summary
from clinic_crm.services.reputation import watch as _watch

__all__ = ["ReputationAPI"]


class ReputationAPI(ServiceGroup):
    """Reviews and mentions, alerts and safe replies."""

    ingest = service(_ingest.ingest)
    ingest_google_reviews = service(_ingest.ingest_google_reviews)
    watch = service(_watch.watch)
    watch_list = service(_watch.watch_list)
    mentions = service(_mentions.list_mentions)
    reply = service(_mentions.reply)
    check_spikes = service(_alerts.check_spikes)
    alerts = service(_alerts.list_alerts)
    dismiss = service(_alerts.dismiss_alert)
    summary = service(_summary.summary)
    plot_summary = service(_plot.plot_summary)
