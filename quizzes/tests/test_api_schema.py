"""The quiz API's OpenAPI schema: clean to generate, and true to what the endpoints send.

Real responses (HTTP, each role, refusals included) are validated against the
schema served at /api/schema/ with undocumented keys refused, so the documented
payloads cannot drift from quiz_data / question_data / attempt_payload.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from courseapp.tests.openapi import check, schema_messages, served_schema, token_client
from quizzes.models import Question

from . import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return served_schema()


CODE = "ceng501-2024f"
A = "/api/courses/{code}"


def test_generating_the_schema_warns_about_nothing_in_quizzes():
    noise = [m for m in schema_messages() if "quizzes" in m]
    assert noise == []


def test_every_quiz_operation_has_its_own_id_and_a_documented_success(schema):
    ids = []
    for path, item in schema["paths"].items():
        if "/quiz" not in path and "/questions" not in path and "/key-changes/" not in path:
            continue
        for method, operation in item.items():
            if method == "parameters":
                continue
            ids.append(operation["operationId"])
            assert operation["operationId"].startswith("quizzes_"), (path, method)
            assert [c for c in operation["responses"] if c.startswith("2")], (path, method)
    assert len(ids) == len(set(ids)) >= 24


def test_authoring_payloads_match_the_schema(schema, course, instructor, ta, student):
    teacher, assistant, learner = token_client(instructor), token_client(ta), token_client(student)
    q = f"{A}/questions/"
    made = check(schema, q, "post", teacher.post(q.format(code=CODE), data=json.dumps({
        "type": "numeric", "title": "Pi", "text": "π to two places?", "default_points": "2",
        "answers": [{"value": "100", "tolerance": "0.5", "fraction": 1}]}), content_type="application/json"))
    assert made["answers"][0]["value"] == "100"  # plain digits, never 1E+2
    check(schema, q, "post", teacher.post(q.format(code=CODE), data=json.dumps({"type": "single", "text": "x",
          "answers": [{"text": "only one", "fraction": 1}]}), content_type="application/json"))
    check(schema, q, "get", assistant.get(q.format(code=CODE)))
    check(schema, q, "get", learner.get(q.format(code=CODE)))  # 403
    one = f"{A}/questions/{{question_id}}/"
    check(schema, one, "get", assistant.get(one.format(code=CODE, question_id=made["id"])))
    check(schema, one, "patch", teacher.patch(one.format(code=CODE, question_id=made["id"]),
                                              data=json.dumps({"title": "Pi, again"}), content_type="application/json"))
    gift = f"{A}/questions/gift/"
    check(schema, gift, "post", teacher.post(gift.format(code=CODE), data=json.dumps(
        {"text": "::TF::Deep nets need activations.{T}", "category": "imported"}), content_type="application/json"))
    check(schema, gift, "post", teacher.post(gift.format(code=CODE), data=json.dumps({"text": ""}),
                                             content_type="application/json"))  # 400
    assert "::TF::" in check(schema, gift, "get", assistant.get(gift.format(code=CODE)))

    quizzes = f"{A}/quizzes/"
    now = dt.datetime.now(dt.UTC)
    quiz = check(schema, quizzes, "post", teacher.post(quizzes.format(code=CODE), data=json.dumps({
        "title": "Schema quiz", "opens_at": (now - dt.timedelta(hours=1)).isoformat(),
        "closes_at": (now + dt.timedelta(hours=1)).isoformat(), "time_limit_minutes": 20, "published": True,
    }), content_type="application/json"))
    check(schema, quizzes, "post", teacher.post(quizzes.format(code=CODE), data=json.dumps({"title": "No dates"}),
                                                content_type="application/json"))  # 400
    check(schema, quizzes, "post", assistant.post(quizzes.format(code=CODE), data="{}",
                                                  content_type="application/json"))  # 403
    slots = f"{A}/quizzes/{{quiz_id}}/slots/"
    slot = check(schema, slots, "post", teacher.post(slots.format(code=CODE, quiz_id=quiz["id"]),
                                                     data=json.dumps({"question": made["id"]}),
                                                     content_type="application/json"))
    other = Question.objects.get(title="TF")
    check(schema, slots, "post", teacher.post(slots.format(code=CODE, quiz_id=quiz["id"]),
                                              data=json.dumps({"question": other.id, "points": "1.5"}),
                                              content_type="application/json"))
    order = f"{A}/quizzes/{{quiz_id}}/slots/order/"
    reordered = check(schema, order, "put", teacher.put(order.format(code=CODE, quiz_id=quiz["id"]),
                                                        data=json.dumps({"slots": [slot["id"] + 1, slot["id"]]}),
                                                        content_type="application/json"))
    assert [s["id"] for s in reordered] == [slot["id"] + 1, slot["id"]]
    check(schema, order, "put", teacher.put(order.format(code=CODE, quiz_id=quiz["id"]),
                                            data=json.dumps({"slots": [slot["id"]]}), content_type="application/json"))
    detail = f"{A}/quizzes/{{quiz_id}}/"
    staff_view = check(schema, detail, "get", assistant.get(detail.format(code=CODE, quiz_id=quiz["id"])))
    assert len(staff_view["slots"]) == 2
    student_view = check(schema, detail, "get", learner.get(detail.format(code=CODE, quiz_id=quiz["id"])))
    assert "slots" not in student_view and "published" not in student_view
    check(schema, detail, "patch", teacher.patch(detail.format(code=CODE, quiz_id=quiz["id"]),
                                                 data=json.dumps({"grace_seconds": 10}), content_type="application/json"))
    check(schema, detail, "patch", teacher.patch(detail.format(code=CODE, quiz_id=quiz["id"]),
                                                 data=json.dumps({"grading_method": "best-ever"}),
                                                 content_type="application/json"))  # 400 with errors
    check(schema, quizzes, "get", learner.get(quizzes.format(code=CODE)))
    check(schema, quizzes, "get", teacher.get(quizzes.format(code=CODE)))
    check(schema, quizzes, "get", Client().get(quizzes.format(code=CODE)))  # 401
    check(schema, f"{A}/quizzes/{{quiz_id}}/slots/{{slot_id}}/", "delete",
          teacher.delete(f"/api/courses/{CODE}/quizzes/{quiz['id']}/slots/{slot['id']}/"))


def test_taking_and_results_payloads_match_the_schema(schema, course, instructor, ta, student, outsider):
    questions = [f.question(course, t) for t in ("single", "multi", "truefalse", "numeric", "short", "essay")]
    quiz = f.quiz(course, questions=questions, title="Taken", review_after_submit=["score", "answers", "correct",
                                                                                   "feedback"])
    learner, assistant = token_client(student), token_client(ta)
    attempts = f"{A}/quizzes/{{quiz_id}}/attempts/"
    started = check(schema, attempts, "post", learner.post(attempts.format(code=CODE, quiz_id=quiz.id)))
    check(schema, attempts, "post", learner.post(attempts.format(code=CODE, quiz_id=quiz.id)))  # 200, the same
    check(schema, attempts, "post", assistant.post(attempts.format(code=CODE, quiz_id=quiz.id)))  # 403 staff
    check(schema, attempts, "get", token_client(outsider).get(attempts.format(code=CODE, quiz_id=quiz.id)))  # 404
    save = f"{A}/quiz-attempts/{{attempt_id}}/answers/{{slot_id}}/"
    values = {"single": lambda q: q["choices"][0]["id"], "multi": lambda q: [q["choices"][0]["id"]],
              "truefalse": lambda q: True, "numeric": lambda q: "3.14", "short": lambda q: "backprop",
              "essay": lambda q: "Gradients flow backwards."}
    for q in started["questions"]:
        url = save.format(code=CODE, attempt_id=started["id"], slot_id=q["slot"])
        check(schema, save, "put", learner.put(url, data=json.dumps({"value": values[q["type"]](q), "seq": 1}),
                                               content_type="application/json"))
    url = save.format(code=CODE, attempt_id=started["id"], slot_id=started["questions"][0]["slot"])
    assert check(schema, save, "put", learner.put(url, data=json.dumps({"value": None, "seq": 1}),
                                                  content_type="application/json"))["stale"] is True
    check(schema, save, "put", learner.put(url, data=json.dumps({"value": "x"}), content_type="application/json"))
    check(schema, save, "put", Client().put(url, data="{}", content_type="application/json"))  # 401
    one = f"{A}/quiz-attempts/{{attempt_id}}/"
    check(schema, one, "get", learner.get(one.format(code=CODE, attempt_id=started["id"])))
    submit = f"{A}/quiz-attempts/{{attempt_id}}/submit/"
    done = check(schema, submit, "post", learner.post(submit.format(code=CODE, attempt_id=started["id"])))
    assert done["already_submitted"] is False and done["state"] == "needs_grading"
    check(schema, submit, "post", learner.post(submit.format(code=CODE, attempt_id=started["id"])))
    check(schema, save, "put", learner.put(url, data=json.dumps({"value": None, "seq": 9}),
                                           content_type="application/json"))  # 409
    review = check(schema, one, "get", learner.get(one.format(code=CODE, attempt_id=started["id"])))
    assert {"correct", "feedback"} <= set(review["review"])
    check(schema, one, "get", assistant.get(one.format(code=CODE, attempt_id=started["id"])))
    check(schema, attempts, "get", learner.get(attempts.format(code=CODE, quiz_id=quiz.id)))

    for name in ("results", "statistics", "grading"):
        path = f"{A}/quizzes/{{quiz_id}}/{name}/"
        check(schema, path, "get", assistant.get(path.format(code=CODE, quiz_id=quiz.id)))
        check(schema, path, "get", learner.get(path.format(code=CODE, quiz_id=quiz.id)))  # 403
    essay = next(q["slot"] for q in started["questions"] if q["type"] == "essay")
    queue = f"{A}/quizzes/{{quiz_id}}/grading/{{slot_id}}/"
    answers = check(schema, queue, "get", assistant.get(queue.format(code=CODE, quiz_id=quiz.id, slot_id=essay)))
    grade = f"{A}/quiz-responses/{{response_id}}/grade/"
    graded = check(schema, grade, "post", assistant.post(
        grade.format(code=CODE, response_id=answers["responses"][0]["id"]),
        data=json.dumps({"points": "0.5", "comment": "Say which gradients."}), content_type="application/json"))
    assert graded["attempt_state"] == "graded"
    check(schema, grade, "post", assistant.post(grade.format(code=CODE, response_id=answers["responses"][0]["id"]),
                                                data=json.dumps({"points": "99"}), content_type="application/json"))
    check(schema, f"{A}/quizzes/{{quiz_id}}/statistics/", "get",
          assistant.get(f"/api/courses/{CODE}/quizzes/{quiz.id}/statistics/"))


def test_regrade_payload_matches_the_schema(schema, course, instructor, student, django_capture_on_commit_callbacks):
    question = f.question(course, "short")
    quiz = f.quiz(course, questions=[question], title="Regraded")
    learner, teacher = token_client(student), token_client(instructor)
    attempt = learner.post(f"/api/courses/{CODE}/quizzes/{quiz.id}/attempts/").json()
    learner.put(f"/api/courses/{CODE}/quiz-attempts/{attempt['id']}/answers/{attempt['questions'][0]['slot']}/",
                data=json.dumps({"value": "chain rule", "seq": 1}), content_type="application/json")
    learner.post(f"/api/courses/{CODE}/quiz-attempts/{attempt['id']}/submit/")
    one = f"{A}/questions/{{question_id}}/"
    changed = check(schema, one, "patch", teacher.patch(one.format(code=CODE, question_id=question.id), data=json.dumps(
        {"answers": [{"text": "chain rule", "fraction": 1}]}), content_type="application/json"))
    regrade = f"{A}/key-changes/{{key_change_id}}/regrade/"
    url = regrade.format(code=CODE, key_change_id=changed["regrade_offer"]["key_change"])
    with django_capture_on_commit_callbacks(execute=True):
        queued = check(schema, regrade, "post", teacher.post(url))
    assert queued["queued"] is True
    result = check(schema, regrade, "get", teacher.get(url))
    assert result["regraded_at"] and result["entries"][0]["new_score"] == "1.00"
