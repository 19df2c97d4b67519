"""Who may manage LTI: the course's instructor (or a site admin). TAs and students are refused."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from courseapp.access import access_course_as_instructor
from courseapp.models import Course, User

from .models import Context, Platform


def access_lti_course(user: User, code: str) -> Course:
    """The course whose LTI settings `user` may manage (instructor or superuser)."""
    return access_course_as_instructor(user, code)


def access_platform(user: User, code: str, platform_id: int) -> Platform:
    course = access_lti_course(user, code)
    platform = Platform.objects.filter(pk=platform_id, course=course).select_related("course").first()
    if platform is None:
        raise Http404("No such platform in this course.")
    return platform


def access_context(user: User, code: str, context_id: int) -> Context:
    course = access_lti_course(user, code)
    context = Context.objects.filter(pk=context_id, course=course).select_related("platform", "course").first()
    if context is None:
        raise Http404("No such platform course here.")
    return context


def require_instructor_of(user: User, course: Course) -> None:
    from courseapp.access import is_instructor_of

    if not is_instructor_of(user, course):
        raise PermissionDenied("Only the course's instructor may do this.")
