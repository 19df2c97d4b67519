"""Reads of the LTI app."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from django.db.models import Count, Q, QuerySet

from courseapp.models import Course

from .models import Context, LineItem, Platform, PostStatus, RosterSync, ScorePost

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations  # a typing helper of django-stubs: not needed at run time


class _FailedPosts(TypedDict):
    failed_posts: int


def platforms_of(*, course: Course) -> QuerySet[Platform]:
    return Platform.objects.filter(course=course).prefetch_related("deployments")


def contexts_of(*, course: Course) -> QuerySet[WithAnnotations[Context, _FailedPosts]]:
    """The course's platform courses, with `failed_posts` (scores the platform refused) for the list."""
    return Context.objects.filter(course=course).select_related("platform").annotate(
        failed_posts=Count("line_items__posts", filter=Q(line_items__posts__status=PostStatus.FAILED)))


def last_syncs(*, context: Context, limit: int = 10) -> list[RosterSync]:
    return list(RosterSync.objects.filter(context=context).select_related("by")[:limit])


def line_items_with_counts(*, context: Context) -> QuerySet[LineItem]:
    """Line items with how many posts are sent, pending and failed (one query)."""
    return LineItem.objects.filter(context=context).select_related("grade_item").annotate(
        sent=Count("posts", filter=Q(posts__status=PostStatus.SENT)),
        pending=Count("posts", filter=Q(posts__status=PostStatus.PENDING)),
        failed=Count("posts", filter=Q(posts__status=PostStatus.FAILED)),
    ).order_by("grade_item_id", "id")


def posts_of(*, line: LineItem, limit: int = 500) -> list[ScorePost]:
    return list(ScorePost.objects.filter(line_item=line).select_related("student")[:limit])


def failed_posts(*, context: Context, limit: int = 50) -> list[ScorePost]:
    return list(ScorePost.objects.filter(line_item__context=context, status=PostStatus.FAILED)
                .select_related("student", "line_item")[:limit])
