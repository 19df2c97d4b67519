"""The Django admin for the gradebook: every model is listed; categories and items are changed
through the services (same rules and messages); grades and history are read-only."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.urls import reverse

from grading.models import (
    Category,
    Grade,
    GradebookOptions,
    GradebookOptionsChange,
    GradeChange,
    GradeItem,
    LetterCutoff,
    LetterOverride,
)


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser(username="root", password="pw-root-123", email="r@example.org")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", [Category, GradeItem, Grade, GradeChange, LetterCutoff, LetterOverride,
                                   GradebookOptions, GradebookOptionsChange])
def test_every_grading_model_has_an_admin_list(book, superuser_client, model):
    url = reverse(f"admin:grading_{model._meta.model_name}_changelist")
    assert superuser_client.get(url).status_code == 200


def test_grade_page_shows_its_history_and_cannot_be_changed(book, superuser_client, item, student):
    grade = Grade.objects.get(item=item("Quiz 1"), student=student)
    url = reverse("admin:grading_grade_change", args=[grade.pk])
    html = superuser_client.get(url).content.decode()
    assert "History (newest first)" in html and "demo" in html
    assert 'name="_save"' not in html
    assert superuser_client.post(url, {"points": "0"}).status_code == 403
    grade.refresh_from_db()
    assert grade.points is not None and grade.points > 0
    assert superuser_client.get(reverse("admin:grading_gradechange_add")).status_code == 403


def test_admin_category_change_goes_through_the_drop_rule(book, superuser_client):
    quizzes = Category.objects.get(course=book, name="Quizzes")
    url = reverse("admin:grading_category_change", args=[quizzes.pk])
    response = superuser_client.post(url, {"name": "Quizzes", "weight": "20", "aggregation": "total_points",
                                           "drop_lowest": "11", "drop_highest": "0", "position": "0",
                                           "description": "", "late_penalty_base": "score"})
    assert response.status_code == 200
    assert "Quizzes would drop 11 item(s) (drop lowest 11) but has only 10 that may be dropped" in \
        response.content.decode()
    quizzes.refresh_from_db()
    assert quizzes.drop_lowest == 0
    response = superuser_client.post(url, {"name": "Quizzes", "weight": "25", "aggregation": "total_points",
                                           "drop_lowest": "1", "drop_highest": "0", "position": "0",
                                           "description": "", "late_penalty_base": "score"})
    assert response.status_code == 302
    quizzes.refresh_from_db()
    assert (quizzes.weight, quizzes.drop_lowest) == (D("25"), 1)


def test_admin_will_not_delete_an_item_with_grades(book, superuser_client, item):
    quiz = item("Quiz 1")
    response = superuser_client.post(reverse("admin:grading_gradeitem_delete", args=[quiz.pk]), {"post": "yes"})
    assert response.status_code == 403
    assert GradeItem.objects.filter(pk=quiz.pk).exists()
    empty = item("Quiz 9")
    response = superuser_client.post(reverse("admin:grading_gradeitem_delete", args=[empty.pk]), {"post": "yes"})
    assert response.status_code == 302 and not GradeItem.objects.filter(pk=empty.pk).exists()


def test_admin_adds_an_item_through_the_service(book, superuser_client):
    quizzes = Category.objects.get(course=book, name="Quizzes")
    data = {"course": book.pk, "name": "Quiz 1", "short_name": "", "category": quizzes.pk, "points_possible": "10",
            "weight": "", "due_at_0": "", "due_at_1": "", "late_penalty_percent": "0", "late_penalty_unit": "day",
            "late_penalty_floor_percent": "0", "position": "11"}
    response = superuser_client.post(reverse("admin:grading_gradeitem_add"), data)
    assert "“Quiz 1” is already the name or short name of Quiz 1" in response.content.decode()
    response = superuser_client.post(reverse("admin:grading_gradeitem_add"), {**data, "name": "Quiz 11"})
    assert response.status_code == 302
    assert GradeItem.objects.get(course=book, name="Quiz 11").position == 11
