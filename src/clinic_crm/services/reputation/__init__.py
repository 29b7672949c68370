"""Reputation: mentions of the clinic (reviews, posts), watch lists, alerts, safe replies and the summary.

Modules: ``ingest`` (bulk upsert of mentions, keyword alerts), ``sources`` (the ``ReviewSource`` protocol,
Google ``reviews.list`` payloads, CSV files), ``watch`` (keywords and negative terms), ``sentiment`` and
``spikes`` (pure rules), ``terms`` (the shipped negative terms), ``guard`` (what a reply must not contain),
``mentions`` (listing, replying), ``alerts`` (spike check, dismiss, escalate), ``summary`` and ``plot``.

The package exports the result types, the source protocol and ``escalate_alert`` (called by
``incidents.declare``); the public calls are bound on ``crm.reputation``.
"""

from clinic_crm.services.reputation.alerts import escalate_alert
from clinic_crm.services.reputation.ingest import IngestReport
from clinic_crm.services.reputation.sources import CsvSource, ReviewSource
from clinic_crm.services.reputation.summary import ReputationSummary
from clinic_crm.services.reputation.watch import WatchList

__all__ = ["IngestReport", "ReputationSummary", "WatchList", "ReviewSource", "CsvSource", "escalate_alert"]
