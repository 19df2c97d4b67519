"""Writes for authoring quizzes: settings, and which bank questions a quiz holds in what order.

Only the course's instructor authors (quizzes.access.can_author); `by=None` is the
system (the demo loader, a management command, a bench setup), never a request.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from courseapp.models import Course, User
from grading.models import GradeItem

from .. import calculations as calc
from ..access import require_author
from ..grade_link import existing_grade_item, sync_grade_item
from ..models import (
    DURING_PARTS,
    REVIEW_PARTS,
    Attempt,
    AttemptState,
    GradingMethod,
    Question,
    Quiz,
    QuizSlot,
)
from ..selectors import forget_slots
from .bank import positive_points

QUIZ_FIELDS = {
    "title", "description", "lecture", "opens_at", "closes_at", "time_limit", "grace_seconds", "max_attempts",
    "grading_method", "shuffle_questions", "shuffle_choices", "review_after_submit", "review_after_close",
    "review_during", "published",
}


QUIZ_YEARS = (2000, 2099)


def _check_quiz(quiz: Quiz) -> None:
    if not quiz.title.strip():
        raise ValidationError("Give the quiz a title.")
    if quiz.opens_at is None or quiz.closes_at is None:
        raise ValidationError("Set both the opening and the closing time.")
    if timezone.is_naive(quiz.opens_at) or timezone.is_naive(quiz.closes_at):
        raise ValidationError("Opening and closing times need a time zone.")
    for label, moment in (("opening", quiz.opens_at), ("closing", quiz.closes_at)):
        # A year like 0481 is a typo, and Europe/Istanbul then has a local-mean-time offset (+01:55:52)
        # that no RFC 3339 client reads back: refuse it with the range instead of storing it.
        if not QUIZ_YEARS[0] <= moment.year <= QUIZ_YEARS[1]:
            raise ValidationError(f"The {label} time must be in the years {QUIZ_YEARS[0]} to {QUIZ_YEARS[1]}; "
                                  f"{moment.year} is not.")
    if quiz.closes_at <= quiz.opens_at:
        raise ValidationError("The quiz must close after it opens; move the closing time later.")
    if quiz.time_limit is not None and quiz.time_limit <= dt.timedelta(0):
        raise ValidationError("The time limit must be positive, or empty for no limit.")
    if quiz.grading_method not in GradingMethod.values:
        raise ValidationError(f"Unknown grading method “{quiz.grading_method}”; use one of {', '.join(GradingMethod.values)}.")
    for name in ("review_after_submit", "review_after_close"):
        parts = getattr(quiz, name)
        if not isinstance(parts, list) or any(p not in REVIEW_PARTS for p in parts):
            raise ValidationError(f"{name} must be a list drawn from {', '.join(REVIEW_PARTS)}.")
    during = quiz.review_during
    if not isinstance(during, list) or any(p not in DURING_PARTS for p in during):
        raise ValidationError(f"review_during must be a list drawn from {', '.join(DURING_PARTS)} (the student's "
                              "own answers are always on the taking page).")
    if quiz.lecture is not None and quiz.lecture.course_id != quiz.course_id:
        raise ValidationError("That lecture belongs to another course; pick one of this course's lectures.")
    if quiz.grace_seconds > 300:
        raise ValidationError("A grace period over 300 seconds is not a grace period; use at most 300.")


@transaction.atomic
def quiz_create(*, course: Course, by: User | None, grade_item: GradeItem | None = None, **fields) -> Quiz:
    """A new quiz with its own grade item in the course's Quizzes category.

    fields: any of QUIZ_FIELDS; opens_at/closes_at aware datetimes; time_limit a
    timedelta or None (no limit: until the quiz closes).
    grade_item: an existing, unlinked item of the Quizzes category to grade into
    instead (the gradebook may list "Quiz 3" before the quiz exists). Without it,
    an item with the quiz's title is never taken over: GradeItemExists asks.
    """
    require_author(by, course)
    unknown = set(fields) - QUIZ_FIELDS
    if unknown:
        raise ValidationError(f"Unknown quiz fields: {', '.join(sorted(unknown))}.")
    fields.setdefault("review_after_submit", ["score"])
    fields.setdefault("review_after_close", list(REVIEW_PARTS))
    quiz = Quiz(course=course, **fields)
    _check_quiz(quiz)
    if Quiz.objects.filter(course=course, title=quiz.title).exists():
        raise ValidationError(f"This course already has a quiz named “{quiz.title}”; choose another title.")
    quiz.grade_item = existing_grade_item(course=course, title=quiz.title, chosen=grade_item)
    quiz.save()
    sync_grade_item(quiz)
    return quiz


@transaction.atomic
def quiz_update(*, quiz: Quiz, by: User | None, **fields) -> Quiz:
    """Change a quiz's settings. A new closing time, time limit or grace period moves the deadlines of open attempts."""
    require_author(by, quiz.course)
    unknown = set(fields) - QUIZ_FIELDS
    if unknown:
        raise ValidationError(f"Unknown quiz fields: {', '.join(sorted(unknown))}.")
    quiz = Quiz.objects.select_for_update().get(pk=quiz.pk)
    for name, value in fields.items():
        setattr(quiz, name, value)
    _check_quiz(quiz)
    if Quiz.objects.filter(course=quiz.course, title=quiz.title).exclude(pk=quiz.pk).exists():
        raise ValidationError(f"This course already has a quiz named “{quiz.title}”; choose another title.")
    quiz.save()
    if {"closes_at", "time_limit", "grace_seconds"} & set(fields):
        for attempt in Attempt.objects.select_for_update().filter(quiz=quiz, state=AttemptState.IN_PROGRESS):
            attempt.deadline = calc.attempt_deadline(
                started_at=attempt.started_at, time_limit=quiz.time_limit, closes_at=quiz.closes_at
            )
            attempt.accept_until = calc.accept_until(deadline=attempt.deadline, grace_seconds=quiz.grace_seconds)
            attempt.save(update_fields=["deadline", "accept_until"])
    sync_grade_item(quiz)
    return quiz



def layout_changed(*, quizzes) -> None:
    """Raise the layout_version of `quizzes` (a queryset or a list of Quiz): their cached slots are stale.

    Called in the transaction that changes a quiz's slots or a question a quiz holds;
    selectors.slots_of keys its per-process cache by this version.
    """
    if isinstance(quizzes, list):
        Quiz.objects.filter(pk__in=[q.pk for q in quizzes]).update(layout_version=F("layout_version") + 1)
        versions = dict(Quiz.objects.filter(pk__in=[q.pk for q in quizzes]).values_list("pk", "layout_version"))
        for quiz in quizzes:  # the caller's instances key the cache by the new version from here on
            forget_slots(quiz)
            quiz.layout_version = versions[quiz.pk]
        return
    quizzes.update(layout_version=F("layout_version") + 1)


@transaction.atomic
def slot_add(*, quiz: Quiz, question: Question, by: User | None, points: Decimal | None = None) -> QuizSlot:
    """Put a bank question at the end of the quiz (worth `points`, default the question's)."""
    require_author(by, quiz.course)
    if question.course_id != quiz.course_id:
        raise ValidationError("That question belongs to another course's bank.")
    if Attempt.objects.filter(quiz=quiz).exists():
        raise ValidationError("Students have already attempted this quiz; its questions can no longer change "
                              "(edit a question's answer key and regrade instead).")
    if QuizSlot.objects.filter(quiz=quiz, question=question).exists():
        raise ValidationError(f"“{question.title}” is already in this quiz.")
    value = positive_points(question.default_points if points is None else points, what="Points")
    position = (QuizSlot.objects.filter(quiz=quiz).order_by("-position").values_list("position", flat=True).first() or 0) + 1
    slot = QuizSlot.objects.create(quiz=quiz, question=question, points=value, position=position)
    layout_changed(quizzes=[quiz])
    sync_grade_item(quiz)
    return slot


@transaction.atomic
def slot_remove(*, slot: QuizSlot, by: User | None) -> None:
    """Take a question out of the quiz; refused once students have attempted it."""
    require_author(by, slot.quiz.course)
    if Attempt.objects.filter(quiz=slot.quiz).exists():
        raise ValidationError("Students have already attempted this quiz; its questions can no longer change.")
    quiz = slot.quiz
    slot.delete()
    layout_changed(quizzes=[quiz])
    sync_grade_item(quiz)


@transaction.atomic
def slots_reorder(*, quiz: Quiz, order: object, by: User | None) -> list[QuizSlot]:
    """Put the quiz's questions in `order` (a list of every slot id of the quiz, once each; anything else, as an
    API body may send, is refused with a ValidationError); returns the slots in order.

    Allowed after attempts exist: an attempt keeps the order it was started
    with (its stored layout), so only attempts started later see the new one.
    The quiz row is locked so two editors' orders do not interleave.
    """
    require_author(by, quiz.course)
    Quiz.objects.select_for_update().filter(pk=quiz.pk).first()
    slots = {s.id: s for s in QuizSlot.objects.filter(quiz=quiz)}
    if (
        not isinstance(order, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in order)
        or sorted(order) != sorted(slots)
    ):
        raise ValidationError(
            f"Send every question of the quiz exactly once, as the list of its {len(slots)} slot ids in the new "
            "order (reload the page if someone else changed the questions)."
        )
    changed = []
    for position, slot_id in enumerate(order, start=1):
        slot = slots[slot_id]
        if slot.position != position:
            slot.position = position
            changed.append(slot)
    QuizSlot.objects.bulk_update(changed, ["position"])
    layout_changed(quizzes=[quiz])
    return [slots[i] for i in order]

