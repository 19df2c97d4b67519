"""Template tags of the course editing pages: the announcements partial loads its own rows."""

from __future__ import annotations

from django import template

from courseapp import selectors
from courseapp.models import Announcement, Course

register = template.Library()


@register.simple_tag
def recent_announcements(course: Course, limit: int = 3) -> list[Announcement]:
    """The latest announcements of `course` (one query), so any page can include the partial."""
    return selectors.recent_announcements(course=course, limit=limit)
