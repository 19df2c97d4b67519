"""Who may see and change what, in one place per resource.

`access_*` functions fetch an object *and* check permission (Zulip's naming):
they raise Http404 when the object does not exist or the person may not know
it exists (not a member), and PermissionDenied when a member lacks the role.
Views, APIs and services call these; nothing else decides access.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import Course, Lecture, LectureMaterial, Membership, Role, User

STAFF_ROLES = (Role.INSTRUCTOR, Role.TA)


def membership_of(user: User, course: Course) -> Membership | None:
    """The active membership of `user` in `course`, or None. Cached per request user."""
    if not user.is_authenticated:
        return None
    cache = user.__dict__.setdefault("_membership_cache", {})
    if course.pk not in cache:
        cache[course.pk] = (
            Membership.objects.filter(course=course, user=user, is_active=True).first()
        )
    return cache[course.pk]


def role_in(user: User, course: Course) -> str | None:
    """The person's role in the course; superusers act as instructors everywhere."""
    if user.is_authenticated and user.is_superuser:
        return Role.INSTRUCTOR
    membership = membership_of(user, course)
    return membership.role if membership else None


def is_staff_of(user: User, course: Course) -> bool:
    return role_in(user, course) in STAFF_ROLES


def is_instructor_of(user: User, course: Course) -> bool:
    return role_in(user, course) == Role.INSTRUCTOR


def access_course(user: User, code: str, *, roles: Iterable[str] | None = None) -> Course:
    """The course with `code` if `user` belongs to it (with one of `roles`, when given).

    Non-members get Http404 so that course codes do not leak; members with the
    wrong role get PermissionDenied.
    """
    try:
        course = Course.objects.get(code=code)
    except Course.DoesNotExist:
        raise Http404("No such course.") from None
    role = role_in(user, course)
    if role is None:
        raise Http404("No such course.")
    if roles is not None and role not in set(roles):
        raise PermissionDenied("Your role in this course does not allow this.")
    return course


def access_course_as_staff(user: User, code: str) -> Course:
    return access_course(user, code, roles=STAFF_ROLES)


def access_course_as_instructor(user: User, code: str) -> Course:
    return access_course(user, code, roles=(Role.INSTRUCTOR,))


# Course editing (README "Editing the course"): the instructor edits the course page, the
# schedule and its materials; instructors and TAs post announcements (TAs announce recitations
# and homework help); staff read the edit history; every member reads the rest.
ANNOUNCERS = STAFF_ROLES


def access_course_as_announcer(user: User, code: str) -> Course:
    return access_course(user, code, roles=ANNOUNCERS)


def access_lecture(user: User, code: str, lecture_id: int, *, edit: bool = False) -> Lecture:
    """A session of the course: any member reads it; `edit` needs the instructor."""
    course = access_course_as_instructor(user, code) if edit else access_course(user, code)
    lecture = Lecture.objects.filter(course=course, pk=lecture_id).select_related("course").first()
    if lecture is None:
        raise Http404("No such session in this course.")
    return lecture


def access_material(user: User, code: str, material_id: int, *, edit: bool = False) -> LectureMaterial:
    """A lecture material: any member of its course reads it (files included); `edit` needs the instructor."""
    course = access_course_as_instructor(user, code) if edit else access_course(user, code)
    material = (LectureMaterial.objects.filter(lecture__course=course, pk=material_id)
                .select_related("lecture", "lecture__course").first())
    if material is None:
        raise Http404("No such material in this course.")
    return material


def courses_of(user: User):
    """Courses the person belongs to, with their role annotated as `my_role`."""
    from django.db.models import OuterRef, Subquery

    if user.is_superuser:
        return Course.objects.all()
    role = Membership.objects.filter(course=OuterRef("pk"), user=user, is_active=True).values("role")[:1]
    return Course.objects.filter(memberships__user=user, memberships__is_active=True).annotate(
        my_role=Subquery(role)
    )
