"""Scheduled public posts: the content calendar (:mod:`.calendar`), publishing (:mod:`.publishing`), the rules."""

from clinic_crm.services.posts.calendar import cancel_post, get_post, list_posts, release_post, schedule_post
from clinic_crm.services.posts.publishing import PublishReport, publish_due

__all__ = ["schedule_post", "release_post", "cancel_post", "list_posts", "get_post", "publish_due", "PublishReport"]
