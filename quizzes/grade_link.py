"""A quiz's gradebook item: created with the quiz, kept named, dated and sized like it, never taken over silently.

Runs inside the quiz services' transactions (services.quiz_create, quiz_update,
slot_add, slot_remove).
"""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError

from courseapp.models import Course
from grading.models import Category, GradeItem

from .models import Quiz, QuizSlot

QUIZ_CATEGORY = "Quizzes"


def quiz_category(course: Course) -> Category:
    category = Category.objects.filter(course=course, name=QUIZ_CATEGORY).first()
    if category is None:
        raise ValidationError(
            f"The gradebook has no “{QUIZ_CATEGORY}” category; create it in the gradebook before adding quizzes."
        )
    return category


class GradeItemExists(ValidationError):
    """Creating a quiz whose title an unlinked Quizzes item already has: the instructor must say to use it."""

    def __init__(self, item: GradeItem):
        super().__init__(
            f"The gradebook already has an item named “{item.name}” ({item.points_possible} points) that no quiz "
            "uses. Choose “grade into the existing item” to use it (its grades and history stay), or give the "
            "quiz another title.", code="grade_item_exists",
        )
        self.item = item


def existing_grade_item(*, course: Course, title: str, chosen: GradeItem | None) -> GradeItem | None:
    """The existing item a new quiz grades into: only `chosen`, and only if it may take a quiz.

    Never silently: an item of the same title that was not chosen raises
    GradeItemExists (an unlinked Quizzes item: ask) or a plain ValidationError
    (another category, or already a quiz's: choose another title).
    """
    same = GradeItem.objects.filter(course=course, name=title).select_related("category").first()
    if chosen is not None:
        if chosen.course_id != course.id:
            raise ValidationError("That gradebook item belongs to another course.")
        chosen = GradeItem.objects.select_related("category").get(pk=chosen.pk)
        if chosen.category.name != QUIZ_CATEGORY:
            raise ValidationError(f"“{chosen.name}” is not in the gradebook's {QUIZ_CATEGORY} category; a quiz "
                                  "grades only into a Quizzes item.")
        if Quiz.objects.filter(grade_item=chosen).exists():
            raise ValidationError(f"“{chosen.name}” already holds another quiz's grades; choose another item.")
        if same is not None and same.pk != chosen.pk:
            raise ValidationError(f"The gradebook already has another item named “{title}”; choose another title.")
        return chosen
    if same is None:
        return None
    if same.category.name == QUIZ_CATEGORY and not Quiz.objects.filter(grade_item=same).exists():
        raise GradeItemExists(same)
    raise ValidationError(f"The gradebook already has an item named “{title}”; choose another title.")


def sync_grade_item(quiz: Quiz) -> None:
    """Keep the quiz's grade item named, dated and sized like the quiz, creating it for a new quiz.

    An item keeps its points while the quiz has no questions yet.
    """
    total = sum((s.points for s in QuizSlot.objects.filter(quiz=quiz)), Decimal("0"))
    item = quiz.grade_item
    if item is None:
        if GradeItem.objects.filter(course=quiz.course, name=quiz.title).exists():
            raise ValidationError(f"The gradebook already has an item named “{quiz.title}”; choose another title.")
        if item is None:
            item = GradeItem.objects.create(
                course=quiz.course, category=quiz_category(quiz.course), name=quiz.title,
                short_name=quiz.title[:30], points_possible=total, due_at=quiz.closes_at,
                position=GradeItem.objects.filter(course=quiz.course).count() + 1,
            )
        quiz.grade_item = item
        quiz.save(update_fields=["grade_item"])
    points = total if total > 0 else item.points_possible
    if (item.name, item.points_possible, item.due_at) != (quiz.title, points, quiz.closes_at):
        if item.name != quiz.title and GradeItem.objects.filter(course=quiz.course, name=quiz.title).exclude(pk=item.pk).exists():
            raise ValidationError(f"The gradebook already has an item named “{quiz.title}”; choose another title.")
        item.name, item.points_possible, item.due_at = quiz.title, points, quiz.closes_at
        item.save(update_fields=["name", "points_possible", "due_at"])
