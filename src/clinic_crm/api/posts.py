"""``crm.posts``: the clinic's scheduled public posts."""

from __future__ import annotations

from clinic_crm.api._unit import ServiceGroup

__all__ = ["PostsAPI"]


class PostsAPI(ServiceGroup):
    """The clinic's scheduled public posts."""
