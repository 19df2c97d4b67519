"""Instructor pages: arrange a quiz's questions (reorder, remove) and preview it as a student."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from grading.models import Grade, GradeChange
from quizzes.models import Attempt, QuizSlot, Response

from . import factories as f

pytestmark = pytest.mark.django_db

CODE = "ceng501-2024f"


@pytest.fixture
def quiz(course):
    questions = [f.question(course, t, title=f"Q {t}") for t in ("single", "multi", "truefalse", "numeric", "essay")]
    return f.quiz(course, questions=questions, title="Arranged", points=[1, 2, 1, 1, 3])


def order(quiz) -> list[str]:
    return list(QuizSlot.objects.filter(quiz=quiz).order_by("position", "id").values_list("question__title", flat=True))


def slot_id(quiz, title) -> int:
    return QuizSlot.objects.get(quiz=quiz, question__title=title).id


# --- Arranging questions ------------------------------------------------------------------


def test_the_instructor_moves_questions_up_and_down(client_for, instructor, quiz):
    client = client_for(instructor)
    url = reverse("quizzes:questions", args=[CODE, quiz.id])
    page = client.get(url)
    assert page.status_code == 200 and b"Q numeric" in page.content
    assert client.post(url, {"move": slot_id(quiz, "Q numeric"), "direction": "up"}).status_code == 302
    assert order(quiz) == ["Q single", "Q multi", "Q numeric", "Q truefalse", "Q essay"]
    client.post(url, {"move": slot_id(quiz, "Q single"), "direction": "down"})
    client.post(url, {"move": slot_id(quiz, "Q essay"), "direction": "down"})  # already last: stays
    assert order(quiz) == ["Q multi", "Q single", "Q numeric", "Q truefalse", "Q essay"]
    assert list(QuizSlot.objects.filter(quiz=quiz).order_by("position").values_list("position", flat=True)) == [
        1, 2, 3, 4, 5]


def test_the_arrange_page_lists_slots_in_a_fixed_number_of_queries(client_for, instructor, quiz):
    client = client_for(instructor)
    url = reverse("quizzes:questions", args=[CODE, quiz.id])
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    f.question(quiz.course, "short", title="One more")
    from quizzes import services

    services.slot_add(quiz=quiz, question=quiz.course.quiz_questions.get(title="One more"), by=None)
    client.get(url)  # the new layout version is loaded once per process (selectors._LAYOUTS), like the first
    with CaptureQueriesContext(connection) as more:
        client.get(url)
    assert len(more) == len(few)


def test_a_new_order_applies_to_attempts_started_afterwards_only(client_for, instructor, student, other_student, quiz):
    before = client_for(student).post(reverse("quizzes:api-attempts", args=[CODE, quiz.id])).json()
    client = client_for(instructor)
    url = reverse("quizzes:questions", args=[CODE, quiz.id])
    page = client.get(url)
    assert b"1 attempt started already" in page.content and b"name=\"remove\"" not in page.content
    client.post(url, {"move": slot_id(quiz, "Q essay"), "direction": "up"})
    assert order(quiz)[3] == "Q essay"
    after = client_for(other_student).post(reverse("quizzes:api-attempts", args=[CODE, quiz.id])).json()
    reloaded = client_for(student).get(reverse("quizzes:api-attempt", args=[CODE, before["id"]])).json()
    assert [q["slot"] for q in reloaded["questions"]] == [q["slot"] for q in before["questions"]]
    assert [q["type"] for q in before["questions"]] == ["single", "multi", "truefalse", "numeric", "essay"]
    assert [q["type"] for q in after["questions"]] == ["single", "multi", "truefalse", "essay", "numeric"]


def test_removing_a_question_updates_the_gradebook_item_and_is_refused_once_attempted(
    client_for, instructor, student, quiz
):
    client = client_for(instructor)
    url = reverse("quizzes:questions", args=[CODE, quiz.id])
    client.post(url, {"remove": slot_id(quiz, "Q essay")})
    assert "Q essay" not in order(quiz)
    quiz.grade_item.refresh_from_db()
    assert quiz.grade_item.points_possible == 5
    client_for(student).post(reverse("quizzes:api-attempts", args=[CODE, quiz.id]))
    refused = client.post(url, {"remove": slot_id(quiz, "Q single")}, follow=True)
    assert "Q single" in order(quiz)
    assert "Students have already attempted this quiz" in refused.content.decode()


def test_a_stale_move_says_to_reload(client_for, instructor, quiz):
    response = client_for(instructor).post(reverse("quizzes:questions", args=[CODE, quiz.id]),
                                           {"move": "999999", "direction": "up"}, follow=True)
    assert "no longer in this quiz; reload the page" in response.content.decode()


def test_the_reorder_api_refuses_an_incomplete_order_with_what_to_send(client_for, instructor, quiz):
    ids = list(QuizSlot.objects.filter(quiz=quiz).values_list("id", flat=True))
    url = reverse("quizzes:api-slot-order", args=[CODE, quiz.id])
    refused = client_for(instructor).put(url, data=json.dumps({"slots": ids[:-1]}), content_type="application/json")
    assert refused.status_code == 400
    assert refused.json()["detail"].startswith("Send every question of the quiz exactly once")
    done = client_for(instructor).put(url, data=json.dumps({"slots": ids[::-1]}), content_type="application/json")
    assert done.status_code == 200 and [s["id"] for s in done.json()] == ids[::-1]


@pytest.mark.parametrize("who, status", [("ta", 403), ("student", 403), ("outsider", 404)])
def test_only_the_instructor_arranges_questions(request, client_for, quiz, who, status):
    client = client_for(request.getfixturevalue(who))
    url = reverse("quizzes:questions", args=[CODE, quiz.id])
    assert client.get(url).status_code == status
    assert client.post(url, {"remove": slot_id(quiz, "Q single")}).status_code == status
    api = client.put(reverse("quizzes:api-slot-order", args=[CODE, quiz.id]),
                     data=json.dumps({"slots": []}), content_type="application/json")
    assert api.status_code == status
    assert "Q single" in order(quiz)


# --- Preview as a student -------------------------------------------------------------------


def test_the_instructor_previews_the_taking_page_without_an_attempt(client_for, instructor, quiz):
    page = client_for(instructor).get(reverse("quizzes:preview", args=[CODE, quiz.id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "nothing is saved, nothing reaches the gradebook" in html
    assert all(f"A {t} question?" in html for t in ("single", "multi", "truefalse", "numeric", "essay"))
    assert 'name="slot-' in html and "ReLU" in html
    assert "Correct answer" not in html and "(1)" not in html  # no key before checking
    assert not Attempt.objects.filter(quiz=quiz).exists()


def test_checking_preview_answers_grades_them_in_memory_only(client_for, instructor, quiz):
    client = client_for(instructor)
    url = reverse("quizzes:preview", args=[CODE, quiz.id])
    seed = "abc123"
    slots = {q: slot_id(quiz, f"Q {q}") for q in ("single", "multi", "truefalse", "numeric", "essay")}
    single = quiz.slots.get(pk=slots["single"]).question.answers.get(text="ReLU").id
    dropout = quiz.slots.get(pk=slots["multi"]).question.answers.get(text="Dropout").id
    grades_before = (Grade.objects.count(), GradeChange.objects.count())
    checked = client.post(url, {
        "seed": seed, f"slot-{slots['single']}": str(single), f"slot-{slots['multi']}": [str(dropout)],
        f"slot-{slots['truefalse']}": "false", f"slot-{slots['numeric']}": "3.141",
        f"slot-{slots['essay']}": "Backprop is the chain rule.",
    })
    html = checked.content.decode()
    assert checked.status_code == 200
    # single 1 + half of multi's 2 + true/false wrong 0 + numeric 1 = 3 of 8; the essay waits for a grader
    assert '<strong id="preview-score">3</strong> / 8' in html
    assert "1 question would wait for a grader" in html
    assert "<strong>ReLU</strong> <small>(your choice, right)</small>" in html  # the review marks each pick
    assert "Backprop is the chain rule." in html
    assert not Attempt.objects.exists() and not Response.objects.exists()
    assert (Grade.objects.count(), GradeChange.objects.count()) == grades_before


def test_a_preview_keeps_its_shuffle_when_checked(client_for, instructor, course):
    questions = [f.question(course, "short", title=f"S{i}", text=f"Short {i}?") for i in range(6)]
    quiz = f.quiz(course, questions=questions, title="Shuffled", shuffle_questions=True)
    client = client_for(instructor)
    url = reverse("quizzes:preview", args=[CODE, quiz.id])
    shown = client.get(url, {"seed": "5eed"}).content.decode()
    checked = client.post(url, {"seed": "5eed"}).content.decode()

    def sequence(html):
        return sorted(range(6), key=lambda i: html.index(f"Short {i}?"))

    assert sequence(shown) == sequence(checked) != list(range(6))


def test_a_ta_previews_too_and_an_unpublished_quiz_can_be_previewed(client_for, ta, course):
    draft = f.quiz(course, questions=[f.question(course, "short")], title="Draft", published=False)
    page = client_for(ta).get(reverse("quizzes:preview", args=[CODE, draft.id]))
    assert page.status_code == 200 and "A short question?" in page.content.decode()


@pytest.mark.parametrize("who, status", [("student", 403), ("outsider", 404)])
def test_students_and_outsiders_cannot_preview(request, client_for, quiz, who, status):
    client = client_for(request.getfixturevalue(who))
    url = reverse("quizzes:preview", args=[CODE, quiz.id])
    assert client.get(url).status_code == status
    assert client.post(url, {"seed": "1"}).status_code == status


def test_the_quiz_page_links_to_both_for_the_instructor_and_preview_for_the_ta(client_for, instructor, ta, quiz):
    teacher = client_for(instructor).get(reverse("quizzes:detail", args=[CODE, quiz.id])).content.decode()
    assert reverse("quizzes:questions", args=[CODE, quiz.id]) in teacher
    assert reverse("quizzes:preview", args=[CODE, quiz.id]) in teacher
    assistant = client_for(ta).get(reverse("quizzes:detail", args=[CODE, quiz.id])).content.decode()
    assert reverse("quizzes:questions", args=[CODE, quiz.id]) not in assistant
    assert reverse("quizzes:preview", args=[CODE, quiz.id]) in assistant
