"""Releasing items' grades to students, letter overrides and the letter scale (instructor only)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from courseapp.models import Course, Membership, Role, User
from courseapp.text import control_character_error

from ..calculations import validate_scale
from ..models import GradeItem, LetterCutoff, LetterOverride


@transaction.atomic
def item_release(*, item: GradeItem, released: bool, by: User) -> GradeItem:
    """Show (or hide) an item's grades to students. Instructor only."""
    if role_in_course(by, item.course) != Role.INSTRUCTOR:
        raise PermissionDenied("Only the instructor releases grades.")
    if item.released != released:
        item.released = released
        item.save(update_fields=["released"])
    return item


def role_in_course(user: User, course: Course) -> str | None:
    from courseapp.access import role_in

    return role_in(user, course)


@transaction.atomic
def letter_override_set(*, course: Course, student: User, letter: str, reason: str, by: User) -> LetterOverride:
    """Override (letter) or clear (letter "") a student's final letter. Kept as history; reason required."""
    if role_in_course(by, course) != Role.INSTRUCTOR:
        raise PermissionDenied("Only the instructor overrides letters.")
    from ..selectors import letter_scale  # selectors import services' callers: import late

    letter = letter.strip().upper()
    allowed = [row[0] for row in letter_scale(course)]
    if letter and letter not in allowed:
        raise ValidationError(f"“{letter}” is not a letter of this course's scale; use one of {', '.join(allowed)}.")
    if not reason.strip():
        raise ValidationError("Give a reason for the override; it is kept with the grade's history.")
    control = control_character_error(reason, label="reason", multiline=True)
    if control:
        raise ValidationError(control)
    if not Membership.objects.filter(course=course, user=student, role=Role.STUDENT).exists():
        raise ValidationError("That person is not a student of this course.")
    return LetterOverride.objects.create(
        course=course, student=student, letter=letter, reason=reason.strip(), created_by=by
    )


@transaction.atomic
def letter_scale_set(*, course: Course, rows: list[tuple[str, Decimal, Decimal]], by: User) -> None:
    """Replace the course's letter cut-offs (curving). rows: (letter, min_percent, grade_point)."""
    if role_in_course(by, course) != Role.INSTRUCTOR:
        raise PermissionDenied("Only the instructor edits the letter scale.")
    problems = validate_scale(rows)
    if problems:
        raise ValidationError(problems)
    LetterCutoff.objects.filter(course=course).delete()
    LetterCutoff.objects.bulk_create([
        LetterCutoff(course=course, letter=letter.strip().upper(), min_percent=minimum, grade_point=point)
        for letter, minimum, point in rows
    ])
