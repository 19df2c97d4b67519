"""The review a student reads: marks, answers and correct answers in words, feedback, as the review options allow."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D

import pytest
from django.urls import reverse
from freezegun import freeze_time

from quizzes import calculations as calc
from quizzes import review, services
from quizzes.models import REVIEW_PARTS, Attempt, Response

from . import factories as f

CODE = "ceng501-2024f"


# --- Pure -----------------------------------------------------------------------------


def key(qtype, *answers, **extra):
    return calc.Key(qtype=qtype, answers=tuple(calc.KeyAnswer(id=i, **a) for i, a in enumerate(answers, 1)), **extra)


def test_a_numeric_answer_reads_as_value_plus_minus_tolerance():
    k = key("numeric", {"value": D("0.25"), "tolerance": D("0.001"), "fraction": D("1")},
            {"value": D("0.5"), "tolerance": D("0"), "fraction": D("1")},
            {"value": D("9"), "tolerance": D("1"), "fraction": D("0.5")})
    assert review.correct_in_words(k) == ["0.25 ± 0.001", "0.5"]


def test_short_answers_are_listed_and_patterns_say_so():
    assert review.correct_in_words(key("short", {"text": "backprop", "fraction": D("1")},
                                       {"text": "backpropagation", "fraction": D("1")},
                                       {"text": "chain", "fraction": D("0.5")})) == ["backprop", "backpropagation"]
    assert review.correct_in_words(key("short", {"text": "back ?prop", "fraction": D("1")}, use_regex=True)) == [
        "/back ?prop/ (pattern)"]


def test_choices_true_false_and_essays_in_words():
    single = key("single", {"text": "ReLU", "fraction": D("1")}, {"text": "Step", "fraction": D("0")})
    multi = key("multi", {"text": "A", "fraction": D("0.5")}, {"text": "B", "fraction": D("0.5")},
                {"text": "C", "fraction": D("-1")})
    assert review.correct_in_words(single) == ["ReLU"]
    assert review.correct_in_words(multi) == ["A", "B"]
    assert review.correct_in_words(key("truefalse", correct_bool=False)) == ["False"]
    assert review.correct_in_words(key("essay")) == []
    assert review.answer_in_words(multi, [3, 1]) == "C, A"
    assert review.answer_in_words(key("truefalse"), True) == "True"
    assert review.answer_in_words(single, None) == ""


@pytest.mark.parametrize("value, fraction, manual, graded, expected", [
    ("x", D("1"), False, False, "right"),
    ("x", D("0.5"), False, False, "partly"),
    ("x", D("0"), False, False, "wrong"),
    (None, D("0"), False, False, "unanswered"),
    ("essay", None, True, False, "waiting"),
    ("essay", D("0.7"), True, True, "partly"),
])
def test_marks(value, fraction, manual, graded, expected):
    assert review.mark(value=value, fraction=fraction, needs_manual=manual, graded=graded) == expected


def test_times_read_in_istanbul_in_one_format():
    assert review.when("2024-10-09T07:42:00+00:00") == "2024-10-09 10:42"
    assert review.when(dt.datetime(2024, 10, 9, 7, 42, tzinfo=dt.UTC)) == "2024-10-09 10:42"
    assert review.when(None) == ""


# --- Through the pages ------------------------------------------------------------------


@pytest.fixture
def reviewed(db, course, student, instructor, client_for):
    questions = [
        f.question(course, "single", general_feedback="ReLU keeps gradients alive.",
                   answers=[{"text": "ReLU", "fraction": 1, "feedback": "Yes: no saturation."},
                            {"text": "Step", "fraction": 0, "feedback": "Its gradient is zero."}]),
        f.question(course, "numeric", answers=[{"value": "0.25", "tolerance": "0.001", "fraction": 1}]),
        f.question(course, "short"),
        f.question(course, "multi"),
        f.question(course, "essay"),
    ]
    quiz = f.quiz(course, questions=questions, title="Reviewed", review_after_submit=list(REVIEW_PARTS))
    client = client_for(student)
    payload = client.post(reverse("quizzes:api-attempts", args=[CODE, quiz.id])).json()
    by_type = {q["type"]: q for q in payload["questions"]}
    step = next(c["id"] for c in by_type["single"]["choices"] if c["text"] == "Step")
    dropout = next(c["id"] for c in by_type["multi"]["choices"] if c["text"] == "Dropout")
    for qtype, value in [("single", step), ("numeric", "0.2504"), ("multi", [dropout]), ("essay", "Chain rule.")]:
        url = reverse("quizzes:api-answer", args=[CODE, payload["id"], by_type[qtype]["slot"]])
        assert client.put(url, data=json.dumps({"value": value, "base": 0}),
                          content_type="application/json").status_code == 200
    client.post(reverse("quizzes:api-submit", args=[CODE, payload["id"]]))
    essay = Response.objects.get(attempt_id=payload["id"], slot_id=by_type["essay"]["slot"])
    services.response_grade(response=essay, by=instructor, points="0.5", comment="Say which derivatives.")
    return quiz, client, payload["id"], by_type


def test_the_review_marks_each_question_and_says_the_answers_in_words(reviewed):
    quiz, client, attempt, by_type = reviewed
    html = client.get(reverse("quizzes:attempt", args=[CODE, attempt])).content.decode()
    assert "[{" not in html and "'value'" not in html  # no Python reprs
    assert "0.25 ± 0.001" in html
    assert "<li>backpropagation</li>" in html and "<li>backprop</li>" in html  # accepted answers as a list
    assert '<strong>Step</strong> <small>(your choice, wrong)</small>' in html
    assert "ReLU <small class=\"ok\">(right)</small>" in html
    assert "Its gradient is zero." in html and "Yes: no saturation." in html  # per-choice feedback
    assert "ReLU keeps gradients alive." in html  # general feedback
    assert "Say which derivatives." in html  # the grader's comment on the essay
    marks = {q["type"]: q["mark"] for q in client.get(
        reverse("quizzes:api-attempt", args=[CODE, attempt])).json()["questions"]}
    assert marks == {"single": "wrong", "numeric": "right", "short": "unanswered", "multi": "partly",
                     "essay": "partly"}
    for mark in ("Incorrect", "Correct", "Not answered", "Partly correct"):
        assert f'">{mark}</span>' in html


def test_the_review_shows_only_what_the_quizs_review_options_allow(db, course, student, client_for):
    quiz = f.quiz(course, questions=[f.question(course, "numeric")], title="Score only",
                  review_after_submit=["score"], review_after_close=list(REVIEW_PARTS))
    client = client_for(student)
    attempt = client.post(reverse("quizzes:api-attempts", args=[CODE, quiz.id])).json()["id"]
    client.post(reverse("quizzes:api-submit", args=[CODE, attempt]))
    body = client.get(reverse("quizzes:api-attempt", args=[CODE, attempt])).json()
    question = body["questions"][0]
    assert question["mark"] == "unanswered"
    assert "correct_text" not in question and "answer_text" not in question and "feedback" not in question
    html = client.get(reverse("quizzes:attempt", args=[CODE, attempt])).content.decode()
    assert "3.14 ± 0.01" not in html
    with freeze_time(quiz.closes_at + dt.timedelta(minutes=1)):  # after close: everything
        after = client.get(reverse("quizzes:api-attempt", args=[CODE, attempt])).json()["questions"][0]
    assert after["correct_text"] == ["3.14 ± 0.01"]


def test_attempt_tables_show_istanbul_times_and_states_in_words(reviewed, client_for, instructor):
    quiz, client, attempt, _ = reviewed
    staff = client_for(instructor).get(reverse("quizzes:detail", args=[CODE, quiz.id])).content.decode()
    mine = client.get(reverse("quizzes:detail", args=[CODE, quiz.id])).content.decode()
    for html in (staff, mine):
        assert "<td>Graded</td>" in html
        assert "graded</td>" not in html and "+00:00" not in html and "+03:00" not in html
    submitted = Attempt.objects.get(pk=attempt).submitted_at
    assert review.when(submitted) in staff and review.when(submitted) in mine
