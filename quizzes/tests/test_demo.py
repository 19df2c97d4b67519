"""The demo loader: a bank, a closed Quiz 1 with attempts, an open Quiz 4; running it twice changes nothing."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.utils import timezone

from grading import demo as grading_demo
from grading.models import Grade
from quizzes import demo
from quizzes.models import Attempt, AttemptState, Question, Quiz

pytestmark = pytest.mark.django_db


def test_demo_is_idempotent_and_feeds_the_gradebook(course):
    grading_demo.load(course=course)
    demo.load(course=course)
    counts = (Question.objects.count(), Quiz.objects.count(), Attempt.objects.count(), Grade.objects.count())
    demo.load(course=course)
    assert (Question.objects.count(), Quiz.objects.count(), Attempt.objects.count(), Grade.objects.count()) == counts

    quiz1 = Quiz.objects.get(course=course, title="Quiz 1")
    assert quiz1.lecture.week == 1 and quiz1.closes_at < timezone.now()
    assert quiz1.grade_item.name == "Quiz 1" and quiz1.grade_item.points_possible == D("10.00")
    attempts = Attempt.objects.filter(quiz=quiz1)
    assert attempts.count() == 40 and not attempts.exclude(state=AttemptState.GRADED).exists()
    scores = {a.score for a in attempts}
    assert len(scores) > 3  # a spread, for the statistics page
    assert Grade.objects.filter(item=quiz1.grade_item, source="quiz").count() == 40

    quiz4 = Quiz.objects.get(course=course, title="Quiz 4")
    assert quiz4.opens_at < timezone.now() < quiz4.closes_at and quiz4.published
    assert quiz4.slots.filter(question__qtype="essay").exists()
