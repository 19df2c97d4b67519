"""Every API error is RFC 9457 problem details (courseapp/api_errors.py), whichever app or layer answers.

A representative error of each kind from each app, plus the answers made outside the views
(unrouted path, body limit, login lockout, database down, server error), each checked by
openapi.assert_problem: application/problem+json, type/title/status/detail/instance, and
`errors` as [{field, message}]. Every app's schema tests also run their error answers through
openapi.check, which refuses any other shape; and the schema documents no other.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import OperationalError
from django.test import Client, RequestFactory
from django.urls import reverse

from courseapp import errors
from courseapp.middleware import DatabaseUnavailableMiddleware
from courseapp.tests.openapi import PROBLEM, assert_problem, field_messages, served_schema, token_client
from quizzes.tests import factories as qf

pytestmark = pytest.mark.django_db

JSON = "application/json"


def api(course, rest: str) -> str:
    return f"/api/courses/{course.code}/{rest}"


# --- 400: a body to fix, in every app ----------------------------------------------------------------


def test_grading_validation_is_a_problem_with_field_errors(course, instructor, client_for):
    response = client_for(instructor).post(api(course, "grades/"), {"item": "x", "student": 1, "state": "lost"},
                                           content_type=JSON)
    body = assert_problem(response, 400)
    assert body["code"] == "invalid" and body["instance"] == api(course, "grades/")
    assert {e["field"] for e in body["errors"]} == {"item", "state"}
    assert field_messages(response, "item") and "item: " in body["detail"]  # the sentence names the field


def test_grading_service_refusal_names_the_field(course, instructor, client_for):
    response = client_for(instructor).post(api(course, "grade-categories/"), {"name": ""}, content_type=JSON)
    body = assert_problem(response, 400)
    assert "name" in {e["field"] for e in body["errors"]}


def test_quizzes_validation_is_a_problem(course, instructor, client_for):
    response = client_for(instructor).post(api(course, "quizzes/"), {"title": ""}, content_type=JSON)
    body = assert_problem(response, 400)
    assert field_messages(response, "title") == ["This field may not be blank."] and body["code"] == "blank"


def test_projects_dataset_upload_without_its_fields_is_a_problem(course, instructor, client_for):
    response = client_for(instructor).post(api(course, "datasets/uploads/"), {}, content_type=JSON)
    body = assert_problem(response, 400)
    assert {"name", "filename", "size"} <= {e["field"] for e in body["errors"]}


def test_a_body_that_is_not_json_is_a_parse_error_problem(course, instructor, client_for):
    response = client_for(instructor).post(api(course, "grades/what-if/"), "{not json", content_type=JSON)
    assert assert_problem(response, 400)["code"] == "parse_error"


def test_paging_out_of_range_is_a_problem(course, student, client_for):
    body = assert_problem(client_for(student).get(api(course, "lectures/?limit=0")), 400)
    assert "limit must be a whole number" in body["detail"]


# --- 401, 403, 404, 405 ------------------------------------------------------------------------------


def test_anonymous_is_a_401_problem_with_www_authenticate(course):
    response = Client().get(api(course, "grade-items/"))
    assert assert_problem(response, 401)["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Token")


def test_a_role_that_may_not_is_a_403_problem(course, student, client_for):
    response = client_for(student).post(api(course, "grade-items/"), {"name": "X"}, content_type=JSON)
    assert_problem(response, 403)


@pytest.mark.parametrize("rest", ["grade-items/999999/", "quizzes/999999/", "projects/runs/999999/",
                                  "lti/contexts/999999/roster/", "nowhere/", "grade-items/abc/"])
def test_missing_objects_and_routes_are_404_problems(course, instructor, client_for, rest):
    assert_problem(client_for(instructor).get(api(course, rest)), 404)


def test_outsider_gets_a_404_problem(course, outsider, client_for):
    assert_problem(client_for(outsider).get(api(course, "grades/")), 404)


def test_a_method_not_taken_is_a_405_problem(course, student, client_for):
    response = client_for(student).delete(api(course, "lectures/"))
    assert_problem(response, 405)
    assert "GET" in response["Allow"]


# --- 409: a quiz answer saved over another device's ------------------------------------------------------


def test_a_quiz_answer_conflict_is_a_409_problem_with_the_servers_answer(course, student, client_for):
    quiz = qf.quiz(course, questions=[qf.question(course, "short")], title="Conflicts",
                   time_limit=dt.timedelta(minutes=10))
    laptop, phone = client_for(student), client_for(student)
    attempt = laptop.post(reverse("quizzes:api-attempts", args=[course.code, quiz.id])).json()
    slot = qf.slot_of(attempt, "short")["slot"]
    url = reverse("quizzes:api-answer", args=[course.code, attempt["id"], slot])
    assert laptop.put(url, json.dumps({"value": "one", "base": 0}), content_type=JSON).status_code == 200
    response = phone.put(url, json.dumps({"value": "two", "base": 0}), content_type=JSON)
    body = assert_problem(response, 409)
    assert body["code"] == "conflict" and body["value"] == "one" and body["version"] == 1 and body["saved_at"]
    # The token fast path declines a conflict and the API answers it: the same shape.
    by_token = token_client(student).put(url, json.dumps({"value": "three", "base": 0}), content_type=JSON)
    assert assert_problem(by_token, 409)["code"] == "conflict"


# --- answers made outside the views ------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413_problem(course, student, client_for):
    response = client_for(student).post(api(course, "grades/what-if/"), "{}", content_type=JSON,
                                        CONTENT_LENGTH=str(50 * 1024 * 1024))
    body = assert_problem(response, 413)
    assert body["code"] == "too_large" and body["limit_bytes"] > 0


def test_a_locked_out_login_is_a_429_problem_with_retry_after(course, student, settings):
    settings.AXES_FAILURE_LIMIT = 2
    client = Client()
    for _ in range(2):
        client.post("/api/auth/token/", {"username": student.username, "password": "wrong"}, content_type=JSON)
    response = client.post("/api/auth/token/", {"username": student.username, "password": "wrong"},
                           content_type=JSON)
    body = assert_problem(response, 429)
    assert body["code"] == "throttled" and body["retry_after_s"] > 0 and int(response["Retry-After"]) > 0


def test_database_down_is_a_503_problem_for_the_api():
    request = RequestFactory().get("/api/courses/")
    response = DatabaseUnavailableMiddleware(lambda r: None).process_exception(request, OperationalError("gone"))
    assert response is not None and response.status_code == 503 and response["Retry-After"] == "30"
    assert response["Content-Type"] == PROBLEM
    body = json.loads(response.content)
    assert body["status"] == 503 and body["code"] == "database_unavailable" and body["instance"] == "/api/courses/"


def test_api_500_is_a_problem():
    response = errors.server_error(RequestFactory().get("/api/courses/"))
    assert response.status_code == 500 and response["Content-Type"] == PROBLEM
    body = json.loads(response.content)
    assert body["title"] == "Internal Server Error" and body["detail"].startswith("Server error:")


# --- the schema documents nothing else -----------------------------------------------------------------


def test_every_documented_error_answer_is_problem_details():
    schema = served_schema()
    problems = {name for name, component in schema["components"]["schemas"].items()
                if {"type", "title", "status", "detail"} <= set(component.get("properties", {}))}
    assert "Problem" in problems
    wrong = []
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for status, answer in operation.get("responses", {}).items():
                if not status.startswith(("4", "5")) or "content" not in answer:
                    continue
                content = answer["content"]
                ref = content.get(PROBLEM, {}).get("schema", {}).get("$ref", "")
                if list(content) != [PROBLEM] or ref.rsplit("/", 1)[-1] not in problems:
                    wrong.append(f"{method.upper()} {path} {status}: {content}")
    assert not wrong, "Error answers documented as something other than problem details:\n" + "\n".join(wrong)
