"""The services check their acting user (`by`) themselves, and the answer-save rule has one home.

The pages and the API refuse these people first (quizzes.access, tested through HTTP in
test_authoring); these tests call the services directly, as a task, a command or a future
view would, to show the rule does not depend on the caller remembering it.
"""

from __future__ import annotations

import json
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied
from django.test import Client

from courseapp.tokens import token_create
from quizzes import services
from quizzes.models import Attempt, KeyChange, Question, Quiz, QuizSlot
from quizzes.services import saves

from . import factories as f
from .test_taking import save, start, submit

CODE = "ceng501-2024f"


def test_only_the_instructor_authors_whoever_calls_the_service(course, instructor, ta, student):
    question = f.question(course, "short")
    quiz = f.quiz(course, title="Authored")
    for person in (ta, student):
        with pytest.raises(PermissionDenied):
            services.quiz_update(quiz=quiz, by=person, title="Renamed")
        with pytest.raises(PermissionDenied):
            services.slot_add(quiz=quiz, question=question, by=person)
        with pytest.raises(PermissionDenied):
            services.question_create(course=course, by=person, qtype="short", text="Sneaky?",
                                     answers=[{"text": "x", "fraction": 1}])
        with pytest.raises(PermissionDenied):
            services.questions_import_gift(course=course, by=person, text="Q? {=a ~b}")
        with pytest.raises(PermissionDenied):
            services.question_update(question=question, by=person, text="Changed?")
    assert Quiz.objects.get(pk=quiz.pk).title == "Authored"
    assert not QuizSlot.objects.filter(quiz=quiz).exists()
    assert Question.objects.filter(course=course).count() == 1
    services.slot_add(quiz=quiz, question=question, by=instructor)
    assert QuizSlot.objects.filter(quiz=quiz).count() == 1


def test_only_staff_grade_and_only_the_instructor_regrades(client_for, course, instructor, ta, student):
    essay = f.question(course, "essay")
    quiz = f.quiz(course, questions=[essay])
    client = client_for(student)
    payload = start(client, quiz).json()
    save(client, payload["id"], payload["questions"][0]["slot"], "An essay.", 1)
    submit(client, payload["id"])
    response = Attempt.objects.get(pk=payload["id"]).responses.get()
    with pytest.raises(PermissionDenied):
        services.response_grade(response=response, by=student, points=1)
    assert services.response_grade(response=response, by=ta, points=1).points == 1
    key_change = KeyChange.objects.create(question=essay, before={}, after={})
    for person in (ta, student):
        with pytest.raises(PermissionDenied):
            services.regrade(key_change=key_change, by=person)
        with pytest.raises(PermissionDenied):
            services.regrade_send(key_change=key_change, by=person)
    assert services.regrade(key_change=key_change, by=instructor).attempts == 1


def test_staff_cannot_start_and_nobody_submits_someone_elses_attempt(course, ta, instructor, student, other_student):
    quiz = f.quiz(course, questions=[f.question(course, "short")])
    for person in (ta, instructor):
        with pytest.raises(services.AnswerRefused) as refused:
            services.attempt_start(quiz=quiz, student=person)
        assert refused.value.code == "staff"
    attempt, _ = services.attempt_start(quiz=quiz, student=student)
    for person in (other_student, ta):
        with pytest.raises(services.AnswerRefused) as refused:
            services.attempt_submit(attempt_id=attempt.id, by=person)
        assert refused.value.code == "not_yours"
    assert Attempt.objects.get(pk=attempt.id).state == "in_progress"


def test_every_save_entrance_goes_through_the_one_rule(client_for, course, student):
    """The DRF view (session), the DRF view (token) and the token fast path all call saves._save."""
    quiz = f.quiz(course, questions=[f.question(course, "short")])
    client = client_for(student)
    payload = start(client, quiz).json()
    slot = payload["questions"][0]["slot"]
    url = f"/api/courses/{CODE}/quiz-attempts/{payload['id']}/answers/{slot}/"
    _, key = token_create(user=student, name="rule")
    with mock.patch.object(saves, "_save", wraps=saves._save) as rule:
        by_session = client.put(url, data=json.dumps({"value": "a", "base": 0}), content_type="application/json")
        by_token = Client().put(url, data=json.dumps({"value": "b", "base": 1}),
                                        content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")
        # a conflict: the fast path declines (without explaining), the view explains through the same rule
        conflict = Client().put(url, data=json.dumps({"value": "c", "base": 1}),
                                        content_type="application/json", HTTP_AUTHORIZATION=f"Token {key}")
    assert (by_session.status_code, by_token.status_code, conflict.status_code) == (200, 200, 409)
    callers = [("token" if call.kwargs["token"] else "student") for call in rule.call_args_list]
    assert callers == ["student", "token", "token", "student"]


def test_a_save_without_base_or_seq_is_refused_by_the_rule_itself(course, student):
    quiz = f.quiz(course, questions=[f.question(course, "short")])
    attempt, _ = services.attempt_start(quiz=quiz, student=student)
    with pytest.raises(services.AnswerRefused) as refused:
        services.answer_save(attempt_id=attempt.id, student=student, course_code=CODE,
                             slot_id=attempt.layout[0]["slot"], value="x")
    assert refused.value.code == "bad_body" and refused.value.status == 400
