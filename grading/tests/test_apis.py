"""The gradebook API through HTTP, with the refused role for each rule."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from courseapp.tests.openapi import field_messages, messages
from grading.models import Grade, GradeChange, LetterOverride
from grading.services import grade_set


def api(name, course, **kw):
    return reverse(name, kwargs={"code": course.code, **kw})


def post_grade(client, course, **body):
    return client.post(api("grading-api-grades", course), body, content_type="application/json")


def test_instructor_sets_a_grade_and_gets_new_totals(book, instructor, student, item, client_for):
    final = item("Final exam")
    response = post_grade(client_for(instructor), book, item=final.pk, student=student.pk, points="91.5",
                          reason="exam")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["points"] == "91.50" and data["text"] == "91.5"
    assert data["letter"] and data["final"] is not None
    change = GradeChange.objects.get(item=final, student=student)
    assert change.changed_by == instructor and change.reason == "exam"


def test_ta_may_edit_quizzes_but_not_the_final_exam(book, ta, student, item, client_for):
    client = client_for(ta)
    assert post_grade(client, book, item=item("Quiz 5").pk, student=student.pk, points="6").status_code == 200
    response = post_grade(client, book, item=item("Final exam").pk, student=student.pk, points="60")
    assert response.status_code == 403
    assert not Grade.objects.filter(item=item("Final exam"), student=student).exists()


def test_student_may_not_set_grades(book, student, item, client_for):
    response = post_grade(client_for(student), book, item=item("Quiz 5").pk, student=student.pk, points="10")
    assert response.status_code == 403


def test_bad_points_get_a_message_saying_what_to_fix(book, instructor, student, item, client_for):
    response = post_grade(client_for(instructor), book, item=item("Quiz 5").pk, student=student.pk, points="12")
    assert response.status_code == 400
    assert "above the maximum of 10 for Quiz 5" in messages(response)[0]


def test_excuse_through_the_api(book, instructor, student, item, client_for):
    response = post_grade(client_for(instructor), book, item=item("Quiz 1").pk, student=student.pk, state="excused")
    assert response.json()["text"] == "EX"


def test_setting_a_grade_needs_the_csrf_token(book, instructor, student, item):
    client = Client(enforce_csrf_checks=True)
    client.force_login(instructor)
    response = post_grade(client, book, item=item("Quiz 5").pk, student=student.pk, points="5")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


def test_students_read_only_their_own_released_grades(book, instructor, student, other_student, item, client_for):
    hidden = item("Quiz 6")
    hidden.released = False
    hidden.save()
    grade_set(item=hidden, student=student, points=Decimal("4"), by=instructor)
    rows = client_for(student).get(api("grading-api-grades", book)).json()
    assert rows and {r["student"] for r in rows} == {student.pk}
    assert hidden.pk not in {r["item"] for r in rows}
    items = client_for(student).get(api("grading-api-items", book)).json()
    assert hidden.pk not in {i["id"] for i in items}


def test_ta_reads_every_students_grades(book, ta, student, other_student, client_for):
    rows = client_for(ta).get(api("grading-api-grades", book)).json()
    assert {student.pk, other_student.pk} <= {r["student"] for r in rows}


def test_history_is_staff_only(book, instructor, ta, student, item, client_for):
    quiz = item("Quiz 1")
    grade_set(item=quiz, student=student, points=Decimal("2"), by=instructor, reason="typo")
    path = api("grading-api-history", book, item_id=quiz.pk, student_id=student.pk)
    rows = client_for(ta).get(path).json()
    assert rows[0]["reason"] == "typo" and rows[0]["new_points"] == "2.00" and rows[1]["source"] == "demo"
    assert client_for(student).get(path).status_code == 403


def test_what_if_runs_the_real_calculation_without_saving(book, student, item, client_for):
    final = item("Final exam")
    response = client_for(student).post(api("grading-api-what-if", book), {"grades": {str(final.pk): "100"}},
                                        content_type="application/json")
    assert response.status_code == 200, response.content
    data = response.json()
    final_cat = next(c for c in data["categories"] if c["name"] == "Final exam")
    assert final_cat["current"] == "100.00"
    assert not Grade.objects.filter(item=final, student=student).exists()


def test_what_if_rejects_a_number_above_the_maximum(book, student, item, client_for):
    response = client_for(student).post(api("grading-api-what-if", book),
                                        {"grades": {str(item("Final exam").pk): "120"}},
                                        content_type="application/json")
    assert response.status_code == 400 and "above the maximum of 100" in messages(response)[0]


def test_student_cannot_what_if_someone_else(book, student, other_student, client_for):
    response = client_for(student).post(api("grading-api-what-if", book), {"student": other_student.pk, "grades": {}},
                                        content_type="application/json")
    # the student's own id is always used
    assert response.json()["student_id"] == student.pk


def test_statistics_are_staff_only(book, ta, student, client_for):
    stats = client_for(ta).get(api("grading-api-statistics", book)).json()
    quiz1 = next(s for s in stats if s["name"] == "Quiz 1")
    assert quiz1["count"] == 40 and quiz1["mean"] is not None
    assert client_for(student).get(api("grading-api-statistics", book)).status_code == 403


def test_summary_for_a_student_is_only_their_own(book, student, client_for):
    rows = client_for(student).get(api("grading-api-summary", book)).json()
    assert [r["student_id"] for r in rows] == [student.pk]


def test_letter_override_needs_a_reason_and_the_instructor(book, instructor, ta, student, client_for):
    path = api("grading-api-letter-override", book)
    assert client_for(ta).post(path, {"student": student.pk, "letter": "AA", "reason": "x"},
                               content_type="application/json").status_code == 403
    response = client_for(instructor).post(path, {"student": student.pk, "letter": "AA", "reason": ""},
                                           content_type="application/json")
    assert response.status_code == 400 and "Give a reason" in messages(response)[0]
    response = client_for(instructor).post(path, {"student": student.pk, "letter": "BA", "reason": "medical"},
                                           content_type="application/json")
    assert response.status_code == 201
    summary = client_for(student).get(api("grading-api-summary", book)).json()[0]
    assert summary["letter"] == "" and not summary["letters_released"]  # letters not released yet
    assert "not released yet" in summary["letter_note"]
    response = client_for(instructor).patch(api("grading-api-options", book), {"letters_released": True},
                                            content_type="application/json")
    assert response.status_code == 200
    summary = client_for(student).get(api("grading-api-summary", book)).json()[0]
    assert summary["letter"] == "BA" and summary["letter_overridden"]
    assert LetterOverride.objects.filter(student=student).count() == 1


def test_unknown_letter_is_refused(book, instructor, student, client_for):
    response = client_for(instructor).post(api("grading-api-letter-override", book),
                                           {"student": student.pk, "letter": "A+", "reason": "r"},
                                           content_type="application/json")
    assert "not a letter of this course's scale" in messages(response)[0]


def test_release_api_is_instructor_only(book, ta, instructor, item, client_for):
    path = api("grading-api-release", book, item_id=item("Quiz 9").pk)
    assert client_for(ta).post(path, {"released": False}, content_type="application/json").status_code == 403
    assert client_for(instructor).post(path, {"released": False}, content_type="application/json").json() == {
        "id": item("Quiz 9").pk, "released": False}


@pytest.mark.parametrize("name", ["grading-api-grades", "grading-api-items", "grading-api-statistics"])
def test_outsiders_get_404_from_the_api(book, outsider, client_for, name):
    assert client_for(outsider).get(api(name, book)).status_code == 404


def test_statistics_count_graded_excused_and_missing_per_item(book, ta, instructor, item, client_for):
    from courseapp.models import Membership, Role
    from grading.models import GradeState

    quiz1 = item("Quiz 1")
    first, second, *_ = [m.user for m in Membership.objects.filter(course=book, role=Role.STUDENT)
                         .select_related("user").order_by("user__username")]
    grade_set(item=quiz1, student=first, points=None, by=instructor, state=GradeState.EXCUSED)
    grade_set(item=quiz1, student=second, points=None, by=instructor)  # cleared: missing again
    students = Membership.objects.filter(course=book, role=Role.STUDENT).count()
    stats = client_for(ta).get(api("grading-api-statistics", book)).json()
    row = next(s for s in stats if s["name"] == "Quiz 1")
    assert (row["graded"], row["excused"], row["missing"]) == (students - 2, 1, 1)
    assert row["count"] == row["graded"]
    untouched = next(s for s in stats if s["name"] == "Quiz 7")  # nobody has a grade yet
    assert (untouched["graded"], untouched["excused"], untouched["missing"]) == (0, 0, students)
    html = client_for(ta).get(reverse("grading-gradebook", kwargs={"code": book.code})).content.decode()
    assert f"{students - 2} graded · 1 excused · 1 missing" in html


# --- input a client can get wrong: a message saying what to send, never a server error -------------------


def test_a_student_id_that_is_not_a_number_gets_a_message(book, instructor, ta, client_for):
    grades = client_for(ta).get(api("grading-api-grades", book), {"student": "elif"})
    what_if = client_for(ta).post(api("grading-api-what-if", book), {"student": "elif", "grades": {}},
                                  content_type="application/json")
    override = client_for(instructor).post(api("grading-api-letter-override", book),
                                           {"student": "elif", "letter": "AA", "reason": "r"},
                                           content_type="application/json")
    for response in (grades, what_if, override):
        assert response.status_code == 400
        assert messages(response) == ["student must be a student's id (a whole number); “elif” is not."]


def test_a_letter_override_with_null_fields_asks_for_a_reason(book, instructor, student, client_for):
    response = client_for(instructor).post(api("grading-api-letter-override", book),
                                           {"student": student.pk, "letter": None, "reason": None},
                                           content_type="application/json")
    assert response.status_code == 400 and "Give a reason" in messages(response)[0]


def test_release_reads_form_booleans_and_refuses_a_missing_value(book, instructor, item, client_for):
    quiz = item("Quiz 1")
    client = client_for(instructor)
    path = api("grading-api-release", book, item_id=quiz.pk)
    assert client.post(path, {"released": "false"}).json() == {"id": quiz.pk, "released": False}
    quiz.refresh_from_db()
    assert quiz.released is False
    response = client.post(path, {}, content_type="application/json")
    assert response.status_code == 400 and messages(response) == ["released must be true or false."]
    quiz.refresh_from_db()
    assert quiz.released is False


def test_a_due_date_sent_as_a_number_gets_a_message(book, instructor, item, client_for):
    response = client_for(instructor).patch(api("grading-api-item", book, item_id=item("Quiz 1").pk),
                                            {"due_at": 5}, content_type="application/json")
    assert response.status_code == 400
    assert field_messages(response, "due_at") == ["“5” is not a date and time; enter it like 2024-11-06 23:59 "
                                                   "(course time)."]
