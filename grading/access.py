"""Who may see and change what in the gradebook, in one place.

Builds on courseapp.access: non-members get Http404 (course codes do not leak),
members with the wrong role get PermissionDenied. Rules:

- the instructor reads and edits everything, releases items, overrides letters;
- a TA reads every grade and edits only items marked ``ta_editable``;
- a student reads only their own grades, and only on released items.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from courseapp.access import access_course, role_in
from courseapp.models import Course, Membership, Role, User

from .models import Category, GradeItem


def role_may_edit(role: str | None, ta_editable: bool) -> bool:
    """The rule itself: the instructor edits every item, a TA only items opened to TAs."""
    return role == Role.INSTRUCTOR or (role == Role.TA and ta_editable)


def can_edit_item(user: User | None, item: GradeItem) -> bool:
    """True if `user` may enter grades on `item` (instructor: all; TA: ta_editable ones)."""
    if user is None:
        return False
    return role_may_edit(role_in(user, item.course), item.ta_editable)


def access_gradebook(user: User, code: str) -> tuple[Course, str | None]:
    """The course and the person's role, for staff (instructor or TA) only."""
    course = access_course(user, code, roles=(Role.INSTRUCTOR, Role.TA))
    return course, role_in(user, course)


def access_gradebook_as_instructor(user: User, code: str) -> Course:
    return access_course(user, code, roles=(Role.INSTRUCTOR,))


def access_my_grades(user: User, code: str) -> tuple[Course, str | None]:
    """The course for any member: students see their own grades, staff may preview theirs."""
    course = access_course(user, code)
    return course, role_in(user, course)


def access_item(user: User, code: str, item_id: int, *, for_edit: bool = False) -> GradeItem:
    """A grade item of the course; staff only. With `for_edit`, the person must be allowed to edit it."""
    course, _ = access_gradebook(user, code)
    try:
        item = GradeItem.objects.select_related("category", "course").get(pk=item_id, course=course)
    except GradeItem.DoesNotExist:
        raise Http404("No such grade item.") from None
    if for_edit and not can_edit_item(user, item):
        raise PermissionDenied(
            f"You may not edit grades of {item.name}: the instructor has not opened it to TAs."
        )
    return item


def access_student(user: User, course: Course, student_id: int) -> User:
    """A student of `course` whose grades `user` may read: staff any student, a student only themself."""
    role = role_in(user, course)
    if role is None:
        raise Http404("No such course.")
    if role == Role.STUDENT and user.pk != student_id:
        raise PermissionDenied("Students may see only their own grades.")
    membership = (
        Membership.objects.filter(course=course, user_id=student_id, role=Role.STUDENT)
        .select_related("user")
        .first()
    )
    if membership is None:
        raise Http404("No such student in this course.")
    return membership.user


def access_setup(user: User, code: str) -> Course:
    """The course, for setting up its gradebook (categories, items): the instructor only."""
    return access_course(user, code, roles=(Role.INSTRUCTOR,))


def access_category(user: User, code: str, category_id: int, *, for_setup: bool = False) -> Category:
    """A grade category of the course. Any member may read one; with `for_setup`, only the instructor."""
    course = access_setup(user, code) if for_setup else access_course(user, code)
    try:
        return Category.objects.select_related("course").get(pk=category_id, course=course)
    except Category.DoesNotExist:
        raise Http404("No such grade category.") from None


def access_item_for_setup(user: User, code: str, item_id: int) -> GradeItem:
    """A grade item of the course, for changing its settings or deleting it: the instructor only."""
    course = access_setup(user, code)
    try:
        return GradeItem.objects.select_related("category", "course").get(pk=item_id, course=course)
    except GradeItem.DoesNotExist:
        raise Http404("No such grade item.") from None


def visible_items(user: User, course: Course) -> QuerySet[GradeItem]:
    """The course's grade items `user` may see: staff every item, a student the released ones."""
    items = GradeItem.objects.filter(course=course).select_related("category")
    return items.filter(released=True) if role_in(user, course) == Role.STUDENT else items


def access_items(user: User, code: str) -> tuple[Course, QuerySet[GradeItem]]:
    """The course and the grade items the member may see (students: released items only)."""
    course = access_course(user, code)
    return course, visible_items(user, course)


def access_visible_item(user: User, code: str, item_id: int) -> GradeItem:
    """One grade item the member may see (students: a released one); Http404 otherwise."""
    _, items = access_items(user, code)
    item = items.filter(pk=item_id).first()
    if item is None:
        raise Http404("No such grade item.")
    return item
