"""``crm.feedback``: complaints, questions, suggestions and compliments, answered within deadlines."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup

__all__ = ["FeedbackAPI"]


class FeedbackAPI(ServiceGroup):
    """Complaints, questions, suggestions and compliments, answered within deadlines."""
