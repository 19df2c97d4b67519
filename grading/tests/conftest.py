import datetime as dt
from decimal import Decimal

import pytest

from grading import demo
from grading.models import Category, GradeItem


@pytest.fixture
def book(course):
    """The demo gradebook (10 quizzes, final exam, 3 graded quizzes) plus one project part."""
    demo.load(course=course)
    GradeItem.objects.create(
        course=course, category=Category.objects.get(course=course, name="Project"), name="Project part 1",
        short_name="P1", points_possible=Decimal("100"), due_at=dt.datetime(2025, 1, 10, tzinfo=dt.UTC),
        released=True,
    )
    return course


@pytest.fixture
def item(book):
    return lambda name: GradeItem.objects.get(course=book, name=name)
