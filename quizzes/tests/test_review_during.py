"""Review options "during the attempt" (Moodle's immediate feedback): check a saved answer, see it marked, it is final.

Default off: a quiz shows nothing before submitting and refuses checks. With review_during,
a student checks one saved answer; that question (only) shows the parts allowed (marks,
right answer, feedback) while the attempt is open, and no save can change it any more.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from courseapp.tokens import token_create
from quizzes.models import Response

from . import factories as f
from .test_taking import start, submit

pytestmark = pytest.mark.django_db
CODE = "ceng501-2024f"


def put(client, attempt_id, slot, value, base, **headers):
    return client.put(reverse("quizzes:api-answer", args=[CODE, attempt_id, slot]),
                      data=json.dumps({"value": value, "base": base}), content_type="application/json", **headers)


def check(client, attempt_id, slot):
    return client.post(reverse("quizzes:api-answer-check", args=[CODE, attempt_id, slot]))


def by_text(question: dict, text: str) -> int:
    return next(c["id"] for c in question["choices"] if c["text"] == text)


def test_by_default_nothing_is_shown_during_the_attempt_and_checking_is_refused(client_for, course, student):
    quiz = f.quiz(course, questions=[f.question(course, "single")])
    assert quiz.review_during == []
    client = client_for(student)
    payload = start(client, quiz).json()
    question = payload["questions"][0]
    assert put(client, payload["id"], question["slot"], by_text(question, "Step"), 0).status_code == 200
    refused = check(client, payload["id"], question["slot"])
    assert refused.status_code == 400 and refused.json()["code"] == "no_feedback_during"
    shown = client.get(reverse("quizzes:api-attempt", args=[CODE, payload["id"]])).json()
    assert shown["review_during"] == []
    assert not {"earned", "mark", "correct", "feedback", "checked"} & set(shown["questions"][0])
    assert Response.objects.get().checked_at is None


def test_a_checked_answer_is_marked_shows_only_the_allowed_parts_and_is_final(client_for, course, student):
    single, short = f.question(course, "single"), f.question(course, "short")
    quiz = f.quiz(course, questions=[single, short], review_during=["score", "feedback"])
    client = client_for(student)
    payload = start(client, quiz).json()
    assert payload["review_during"] == ["feedback", "score"]
    one, two = payload["questions"]
    assert put(client, payload["id"], one["slot"], by_text(one, "Step"), 0).status_code == 200
    assert put(client, payload["id"], two["slot"], "backprop", 0).status_code == 200
    # Saved but not checked: nothing about correctness leaks.
    before = client.get(reverse("quizzes:api-attempt", args=[CODE, payload["id"]])).json()
    assert not {"earned", "mark", "feedback"} & set(before["questions"][0])

    checked = check(client, payload["id"], one["slot"])
    assert checked.status_code == 200
    shown = checked.json()["question"]
    assert shown["checked"] is True and shown["mark"] == "wrong" and shown["earned"] == "0.00"
    assert "feedback" in shown and "correct" not in shown and "correct_text" not in shown  # not in review_during
    assert not any(c.get("right") for c in shown["choices"])  # the right choice stays hidden
    after = client.get(reverse("quizzes:api-attempt", args=[CODE, payload["id"]])).json()
    assert after["questions"][0]["mark"] == "wrong"
    assert "mark" not in after["questions"][1] and "checked" not in after["questions"][1]  # only the checked one

    # Final: neither the page's save (session) nor a script's token save may change it; the other question may.
    relu = by_text(one, "ReLU")
    refused = put(client, payload["id"], one["slot"], relu, 1)
    assert refused.status_code == 409 and refused.json()["code"] == "checked"
    _, key = token_create(user=student, name="script")
    by_token = put(Client(), payload["id"], one["slot"], relu, 1, HTTP_AUTHORIZATION=f"Token {key}")
    assert by_token.status_code == 409 and by_token.json()["code"] == "checked"
    assert put(client, payload["id"], two["slot"], "backpropagation", 1).status_code == 200
    assert check(client, payload["id"], one["slot"]).status_code == 200  # checking again changes nothing
    assert Response.objects.get(slot_id=one["slot"]).version == 1

    done = submit(client, payload["id"]).json()
    assert done["state"] == "graded"
    assert Response.objects.get(slot_id=one["slot"]).points == 0


def test_the_right_answer_shows_only_when_review_during_includes_it(client_for, course, student):
    quiz = f.quiz(course, questions=[f.question(course, "short")], review_during=["correct"])
    client = client_for(student)
    payload = start(client, quiz).json()
    slot = payload["questions"][0]["slot"]
    refused = check(client, payload["id"], slot)  # nothing saved yet
    assert refused.status_code == 400 and refused.json()["code"] == "nothing_saved"
    put(client, payload["id"], slot, "chain rule", 0)
    shown = check(client, payload["id"], slot).json()["question"]
    assert shown["correct_text"] and "mark" not in shown and "earned" not in shown


def test_only_the_attempts_student_checks_it(client_for, course, student, other_student, ta):
    quiz = f.quiz(course, questions=[f.question(course, "short")], review_during=["score"])
    client = client_for(student)
    payload = start(client, quiz).json()
    slot = payload["questions"][0]["slot"]
    put(client, payload["id"], slot, "x", 0)
    assert check(client_for(other_student), payload["id"], slot).status_code == 404
    assert check(client_for(ta), payload["id"], slot).status_code == 403
    assert Response.objects.get().checked_at is None


def test_the_taking_page_checks_without_script_and_shows_the_mark(client_for, course, student):
    quiz = f.quiz(course, questions=[f.question(course, "short")], review_during=["score"])
    client = client_for(student)
    payload = start(client, quiz).json()
    slot = payload["questions"][0]["slot"]
    page = client.get(reverse("quizzes:attempt", args=[CODE, payload["id"]])).content.decode()
    assert f'form="check-{slot}"' in page and "Checked: this answer is final" not in page
    put(client, payload["id"], slot, "backprop", 0)
    after = client.post(reverse("quizzes:answer-check", args=[CODE, payload["id"], slot]), follow=True)
    html = after.content.decode()
    assert "Checked: this answer is final" in html and "Right — 1 of 1 point" in html
    assert f'form="check-{slot}"' not in html


def test_review_during_accepts_only_its_parts(client_for, instructor, course):
    quiz = f.quiz(course, title="Settings")
    url = reverse("quizzes:api-quiz", args=[CODE, quiz.id])
    bad = client_for(instructor).patch(url, data=json.dumps({"review_during": ["answers"]}),
                                       content_type="application/json")
    assert bad.status_code == 400 and "review_during" in bad.json()["detail"]
    good = client_for(instructor).patch(url, data=json.dumps({"review_during": ["score", "correct"]}),
                                        content_type="application/json")
    assert good.status_code == 200 and good.json()["review_during"] == ["score", "correct"]
