"""Pages through HTTP: who may see what, totals on the page, query counts."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from courseapp.models import Course, Role
from grading.models import GradeItem
from grading.services import grade_set

from .factories import enroll


def url(name, course, **kw):
    return reverse(name, kwargs={"code": course.code, **kw})


def test_instructor_sees_the_grid_with_totals_and_statistics(book, instructor, student, client_for):
    response = client_for(instructor).get(url("grading-gradebook", book))
    assert response.status_code == 200
    html = response.content.decode()
    assert student.get_full_name() in html and "Quiz 1" in html and "Final exam" in html
    assert "<svg" in html and "Course total (final, %)" in html
    assert 'name="released"' in html  # release buttons for the instructor


def test_ta_sees_the_grid_without_release_buttons_and_locked_final(book, ta, client_for):
    html = client_for(ta).get(url("grading-gradebook", book)).content.decode()
    assert 'name="released"' not in html
    assert "gb-locked" in html  # the final exam is not ta_editable


def test_student_is_sent_to_their_own_page(book, student, client_for):
    response = client_for(student).get(url("grading-gradebook", book))
    assert response.status_code == 302 and response["Location"].endswith("/grades/mine/")


@pytest.mark.parametrize("name", ["grading-gradebook", "grading-mine", "grading-import", "grading-letters"])
def test_outsider_gets_404(book, outsider, client_for, name):
    assert client_for(outsider).get(url(name, book)).status_code == 404


def test_anonymous_is_sent_to_login(book, client):
    response = client.get(url("grading-gradebook", book))
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_student_page_shows_released_items_totals_and_letter(book, student, instructor, item, client_for):
    final = item("Final exam")
    grade_set(item=final, student=student, points=Decimal("80"), by=instructor)
    quiz4 = item("Quiz 4")
    quiz4.released = False
    quiz4.save()
    grade_set(item=quiz4, student=student, points=Decimal("3"), by=instructor)
    html = client_for(student).get(url("grading-mine", book)).content.decode()
    assert "Final exam" in html and "Quiz 1" in html
    # not released: its grade is neither shown nor counted, and the totals say it is not counted yet
    assert f'data-points="{quiz4.pk}"' not in html and f'name="item-{quiz4.pk}"' not in html
    assert "<strong>Provisional.</strong>" in html and "Quiz 4 <span class=\"muted\">(not released yet)</span>" in html
    assert 'id="mg-letter"' in html


def test_student_cannot_open_another_students_page(book, student, other_student, client_for):
    response = client_for(student).get(url("grading-mine", book) + f"?student={other_student.pk}")
    # a student's own page ignores ?student; they still only get their own
    assert response.status_code == 200
    assert other_student.get_full_name() not in response.content.decode()


def test_staff_preview_a_students_page(book, ta, student, client_for):
    response = client_for(ta).get(url("grading-mine", book) + f"?student={student.pk}")
    assert response.status_code == 200 and student.get_full_name() in response.content.decode()


def test_late_penalty_and_drop_are_explained_to_the_student(book, student, instructor, item, client_for):
    import datetime as dt

    from grading.models import Category
    from grading.services import grade_post

    quizzes = Category.objects.get(course=book, name="Quizzes")
    quizzes.drop_lowest = 1
    quizzes.save()
    q4 = item("Quiz 4")
    q4.late_penalty_percent = Decimal("10")
    q4.save()
    grade_post(item=q4, student=student, raw_points=Decimal("0.5"), submitted_at=q4.due_at + dt.timedelta(hours=2),
               source="quiz")
    html = client_for(student).get(url("grading-mine", book)).content.decode()
    assert "late: −0.05 of 0.5" in html
    assert "Late policy: −10% of the score per started day" in html
    # the rule is explained once, in the category's header; each dropped row has its one line
    assert html.count("Quizzes drops the lowest one: of all the ways the rule allows") == 1
    assert "Dropped by the category&#x27;s rule" in html


def test_letters_page_is_instructor_only(book, ta, instructor, client_for):
    assert client_for(ta).get(url("grading-letters", book)).status_code == 403
    assert client_for(instructor).get(url("grading-letters", book)).status_code == 200


def test_release_is_instructor_only(book, ta, instructor, item, client_for):
    quiz = item("Quiz 5")
    quiz.released = False
    quiz.save()
    path = url("grading-release", book, item_id=quiz.pk)
    assert client_for(ta).post(path, {"released": "1"}).status_code == 403
    client_for(instructor).post(path, {"released": "1"})
    quiz.refresh_from_db()
    assert quiz.released


def _gradebook_queries(client, course) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url("grading-gradebook", course)).status_code == 200
    return len(ctx)


def test_gradebook_query_count_does_not_grow_with_students(instructor, client_for, course, django_assert_max_num_queries):
    small = Course.objects.create(code="small", number="X 1", title="Small", term="t", department="d",
                                  lecture_weekday=0, lecture_start="09:00", lecture_end="10:00", lecture_room="r",
                                  calendar_token="tok-small")
    from courseapp.models import Membership
    from grading.models import Category

    Membership.objects.create(course=small, user=instructor, role=Role.INSTRUCTOR)
    cat = Category.objects.create(course=small, name="All", weight=Decimal("100"), drop_lowest=1)
    items = [GradeItem.objects.create(course=small, category=cat, name=f"I{i}", points_possible=Decimal("10"))
             for i in range(5)]
    client = client_for(instructor)
    for s in enroll(small, 5):
        grade_set(item=items[0], student=s, points=Decimal("7"), by=instructor, comment="ok")
    with_5 = _gradebook_queries(client, small)
    for s in enroll(small, 45):
        grade_set(item=items[1], student=s, points=Decimal("8"), by=instructor)
    with django_assert_max_num_queries(with_5):
        client.get(url("grading-gradebook", small))
    assert with_5 <= 15
