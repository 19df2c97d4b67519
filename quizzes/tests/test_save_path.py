"""The answer-save hot path: token clients in one statement, everyone else through DRF, same rules."""

from __future__ import annotations

import datetime as dt
import json
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from freezegun import freeze_time

from courseapp.models import Membership
from courseapp.tokens import token_create
from quizzes.apis import AnswerSaveApi
from quizzes.middleware import AnswerSaveFastPath
from quizzes.models import Response

from . import factories as f

pytestmark = pytest.mark.django_db

CODE = "ceng501-2024f"


def token_client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {token_create(user=user)[1]}")


def start(client, quiz):
    return client.post(reverse("quizzes:api-attempts", args=[quiz.course.code, quiz.id]))


def save(client, attempt_id, slot, value, seq, code=CODE):
    return client.put(reverse("quizzes:api-answer", args=[code, attempt_id, slot]),
                      data=json.dumps({"value": value, "seq": seq}), content_type="application/json")


def data_queries(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))]


@pytest.fixture
def short_quiz(course):
    return f.quiz(course, questions=[f.question(course, "short"), f.question(course, "truefalse")],
                  title="Short", time_limit=dt.timedelta(minutes=10), grace_seconds=5)


@pytest.fixture
def taking(student, short_quiz):
    client = token_client(student)
    payload = start(client, short_quiz).json()
    return client, payload["id"], f.slot_of(payload, "short")["slot"]


def test_a_token_save_is_one_statement_that_checks_token_owner_and_attempt(taking, student):
    client, attempt, slot = taking
    assert save(client, attempt, slot, "warm", 1).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        saved = save(client, attempt, slot, "backprop", 2)
    assert saved.status_code == 200
    body = saved.json()
    assert (body["slot"], body["seq"], body["stale"]) == (slot, 2, False) and body["saved_at"]
    sql = data_queries(ctx)
    assert len(sql) == 1, sql
    if connection.vendor == "postgresql":  # the same statement, prepared once per connection
        assert sql[0].startswith("EXECUTE quizzes_answer_save_token")
    else:
        assert "courseapp_apitoken" in sql[0] and "courseapp_membership" in sql[0]
    assert Response.objects.get(attempt_id=attempt, slot_id=slot).value == "backprop"


def test_a_stale_token_save_is_acknowledged_with_the_stored_seq_and_changes_nothing(taking):
    client, attempt, slot = taking
    save(client, attempt, slot, "newer", 5)
    stale = save(client, attempt, slot, "older", 4)
    assert stale.status_code == 200 and stale.json()["stale"] is True and stale.json()["seq"] == 5
    assert Response.objects.get(attempt_id=attempt, slot_id=slot).value == "newer"


def test_another_students_token_gets_404_and_writes_nothing(taking, other_student):
    _, attempt, slot = taking
    refused = save(token_client(other_student), attempt, slot, "hijack", 9)
    assert refused.status_code == 404 and refused.json()["detail"] == "No such attempt."
    assert not Response.objects.filter(attempt_id=attempt).exists()


def test_an_unknown_token_gets_401(taking):
    _, attempt, slot = taking
    refused = save(Client(HTTP_AUTHORIZATION="Token " + "0" * 40), attempt, slot, "x", 1)
    assert refused.status_code == 401 and refused.json()["detail"] == "Invalid token."
    assert not Response.objects.filter(attempt_id=attempt).exists()


def test_no_credentials_get_401(taking):
    _, attempt, slot = taking
    assert save(Client(), attempt, slot, "x", 1).status_code == 401


def test_an_inactive_users_token_gets_401(taking, student):
    client, attempt, slot = taking
    student.is_active = False
    student.save(update_fields=["is_active"])
    refused = save(client, attempt, slot, "x", 1)
    assert refused.status_code == 401
    assert not Response.objects.filter(attempt_id=attempt).exists()


@pytest.mark.parametrize("by_token", [True, False])
def test_a_student_dropped_from_the_course_mid_quiz_can_no_longer_save(by_token, student, short_quiz, client_for):
    client = token_client(student) if by_token else client_for(student)
    payload = start(client, short_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    assert save(client, payload["id"], slot, "before", 1).status_code == 200
    Membership.objects.filter(user=student, course=short_quiz.course).update(is_active=False)
    refused = save(client, payload["id"], slot, "after", 2)
    assert refused.status_code == 403 and "no longer a member" in refused.json()["detail"]
    assert Response.objects.get(attempt_id=payload["id"], slot_id=slot).value == "before"


def test_the_session_path_explains_a_dropped_student(student, short_quiz, client_for):
    client = client_for(student)
    payload = start(client, short_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    Membership.objects.filter(user=student, course=short_quiz.course).update(is_active=False)
    refused = save(client, payload["id"], slot, "after", 1)
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("You are no longer a member of this course")


def test_a_token_save_after_deadline_and_grace_gets_409_with_the_deadline(student, course):
    with freeze_time("2024-10-09 10:00:00+03:00") as clock:
        quiz = f.quiz(course, questions=[f.question(course, "short")], time_limit=dt.timedelta(minutes=10),
                      grace_seconds=5)
        client = token_client(student)
        payload = start(client, quiz).json()
        slot = payload["questions"][0]["slot"]
        clock.tick(dt.timedelta(minutes=10, seconds=4))
        assert save(client, payload["id"], slot, "in grace", 1).status_code == 200
        clock.tick(dt.timedelta(seconds=2))
        late = save(client, payload["id"], slot, "late", 2)
    assert late.status_code == 409 and late.json()["detail"].startswith("Time is up: this attempt's deadline was 2024-10-09 10:10:00;")
    assert Response.objects.get(attempt_id=payload["id"]).value == "in grace"


def test_a_token_save_to_a_submitted_attempt_gets_409(taking):
    client, attempt, slot = taking
    assert client.post(reverse("quizzes:api-submit", args=[CODE, attempt])).status_code == 200
    late = save(client, attempt, slot, "after submit", 3)
    assert late.status_code == 409 and late.json()["code"] == "submitted"


def test_a_token_save_with_a_bad_value_or_body_gets_400_with_what_to_send(taking):
    client, attempt, slot = taking
    wrong_course = save(client, attempt, slot, "x", 1, code="other-course")
    assert wrong_course.status_code == 404
    no_seq = client.put(reverse("quizzes:api-answer", args=[CODE, attempt, slot]), data=json.dumps({"value": "x"}),
                        content_type="application/json")
    assert no_seq.status_code == 400 and "seq" in no_seq.json()["detail"]
    not_json = client.put(reverse("quizzes:api-answer", args=[CODE, attempt, slot]), data="{oops",
                          content_type="application/json")
    assert not_json.status_code == 400
    bool_seq = save(client, attempt, slot, "x", True)
    assert bool_seq.status_code == 400 and "sequence number" in bool_seq.json()["detail"]
    other_slot = save(client, attempt, 987654, "x", 1)
    assert other_slot.status_code == 400 and other_slot.json()["detail"] == "That question is not part of this attempt."
    assert not Response.objects.filter(attempt_id=attempt).exists()


def test_session_saves_still_need_the_csrf_token(student, short_quiz):
    client = Client(enforce_csrf_checks=True)
    client.force_login(student)
    lenient = Client()
    lenient.force_login(student)
    payload = start(lenient, short_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    refused = save(client, payload["id"], slot, "x", 1)
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not Response.objects.filter(attempt_id=payload["id"]).exists()


def test_other_methods_are_answered_by_drf(taking):
    client, attempt, slot = taking
    refused = client.post(reverse("quizzes:api-answer", args=[CODE, attempt, slot]), data="{}",
                          content_type="application/json")
    assert refused.status_code == 405 and "PUT" in refused["Allow"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="prepared statements are PostgreSQL's")
def test_the_statement_is_prepared_once_per_connection(taking):
    client, attempt, slot = taking
    assert save(client, attempt, slot, "one", 1).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        assert save(client, attempt, slot, "two", 2).status_code == 200
    assert [q for q in data_queries(ctx) if q.startswith("PREPARE")] == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE name = 'quizzes_answer_save_token'")
        assert cursor.fetchone()[0] == 1
    assert Response.objects.get(attempt_id=attempt, slot_id=slot).value == "two"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a server-side disconnect is PostgreSQL's")
@pytest.mark.django_db(transaction=True)
def test_a_save_on_a_connection_the_server_dropped_reconnects_and_is_saved(student, short_quiz):
    import psycopg2

    client = token_client(student)
    payload = start(client, short_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    assert save(client, payload["id"], slot, "before", 1).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    params = connection.get_connection_params()
    killer = psycopg2.connect(**{k: v for k, v in params.items() if k in ("host", "port", "user", "password", "dbname")})
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    killer.close()
    saved = save(client, payload["id"], slot, "after", 2)
    assert saved.status_code == 200 and saved.json()["stale"] is False
    assert Response.objects.get(attempt_id=payload["id"], slot_id=slot).value == "after"


def test_token_saves_are_answered_by_the_fast_path_without_the_drf_view(taking):
    client, attempt, slot = taking
    with mock.patch.object(AnswerSaveApi, "put", side_effect=AssertionError("the DRF view was called")):
        saved = save(client, attempt, slot, "fast", 1)
    assert saved.status_code == 200 and saved.json()["stale"] is False
    assert saved["X-Content-Type-Options"] == "nosniff"  # SecurityMiddleware, ahead of the fast path, still applies
    assert Response.objects.get(attempt_id=attempt, slot_id=slot).value == "fast"


def test_the_fast_path_matches_the_route_urls_py_declares(taking):
    _, attempt, slot = taking
    route = AnswerSaveFastPath(lambda request: None).route
    match = route.resolve(reverse("quizzes:api-answer", args=[CODE, attempt, slot])[1:])
    assert match is not None and match.kwargs == {"code": CODE, "attempt_id": attempt, "slot_id": slot}


def test_a_fast_path_save_for_a_host_not_allowed_gets_400_and_writes_nothing(taking):
    client, attempt, slot = taking
    refused = client.put(reverse("quizzes:api-answer", args=[CODE, attempt, slot]),
                         data=json.dumps({"value": "x", "seq": 1}), content_type="application/json",
                         HTTP_HOST="evil.example")
    assert refused.status_code == 400
    assert not Response.objects.filter(attempt_id=attempt).exists()


def test_a_token_save_that_is_not_json_is_left_to_drf_which_explains(taking):
    client, attempt, slot = taking
    url = reverse("quizzes:api-answer", args=[CODE, attempt, slot])
    plain = client.put(url, data=json.dumps({"value": "x", "seq": 1}), content_type="text/plain")
    assert plain.status_code == 415 and "Unsupported media type" in plain.json()["detail"]
    form = client.put(url, data="value=x&seq=1", content_type="application/x-www-form-urlencoded")
    assert form.status_code == 400 and "sequence number" in form.json()["detail"]
    assert not Response.objects.filter(attempt_id=attempt).exists()


def test_a_revoked_token_cannot_save_on_the_fast_path(student, short_quiz):
    from courseapp.tokens import token_revoke

    token, key = token_create(user=student)
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    payload = start(client, short_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    assert save(client, payload["id"], slot, "before", 1).status_code == 200
    token_revoke(token=token)
    refused = save(client, payload["id"], slot, "after", 2)
    assert refused.status_code == 401 and refused.json()["detail"] == "Invalid token."
    assert Response.objects.get(attempt_id=payload["id"], slot_id=slot).value == "before"
    with mock.patch.object(AnswerSaveApi, "put", side_effect=AssertionError("DRF must not save")):
        assert save(client, payload["id"], slot, "after", 3).status_code == 401  # refused before the view


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the statement notes last use on PostgreSQL only")
def test_a_fast_path_save_notes_the_tokens_last_use_in_its_one_statement(student, short_quiz):
    from courseapp.models import ApiToken

    token, key = token_create(user=student)
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    payload = start(client, short_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    assert save(client, payload["id"], slot, "warm", 1).status_code == 200  # the attempt's facts are cached
    long_ago = token.created_at - dt.timedelta(hours=1)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=long_ago)
    with CaptureQueriesContext(connection) as ctx:
        assert save(client, payload["id"], slot, "noted", 2).status_code == 200
    assert len(data_queries(ctx)) == 1
    token.refresh_from_db()
    assert token.last_used_at > long_ago + dt.timedelta(minutes=59)
    noted = token.last_used_at
    assert save(client, payload["id"], slot, "again", 3).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at == noted  # within the minute: not written again


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("by_token", [True, False])
def test_a_save_racing_a_submit_waits_for_it_and_is_refused(by_token, student, short_quiz, client_for):
    """A submit that holds the attempt row (as the grading transaction does) makes a concurrent save wait.

    Without the save's row lock, the save would read the attempt as still in progress
    (the submit has not committed) and write an answer after the attempt was graded.
    """
    import threading
    import time

    import psycopg2

    client = token_client(student) if by_token else client_for(student)
    payload = start(client, short_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    if by_token:
        assert save(client, payload["id"], slot, "before", 1).status_code == 200
    else:
        assert client.put(reverse("quizzes:api-answer", args=[CODE, payload["id"], slot]),
                          data=json.dumps({"value": "before", "base": 0}),
                          content_type="application/json").status_code == 200
    params = connection.get_connection_params()
    submitter = psycopg2.connect(**{k: v for k, v in params.items() if k in ("host", "port", "user", "password",
                                                                               "dbname")})
    held = threading.Event()
    outcome: dict = {}

    def late_save() -> None:
        from django.db import connection as own

        held.wait()
        began = time.monotonic()
        if by_token:
            response = save(client, payload["id"], slot, "after the submit", 2)
        else:
            response = client.put(reverse("quizzes:api-answer", args=[CODE, payload["id"], slot]),
                                  data=json.dumps({"value": "after the submit", "base": 1}),
                                  content_type="application/json")
        outcome.update(status=response.status_code, code=response.json().get("code"),
                       waited=time.monotonic() - began)
        own.close()

    saver = threading.Thread(target=late_save)
    saver.start()
    try:
        with submitter.cursor() as cursor:  # the submit's transaction: the row is held until it commits
            cursor.execute("UPDATE quizzes_attempt SET state = 'submitted' WHERE id = %s", [payload["id"]])
            held.set()
            time.sleep(0.6)
        submitter.commit()
    finally:
        saver.join(timeout=30)
        submitter.close()
    assert outcome["status"] == 409 and outcome["code"] == "submitted", outcome
    assert outcome["waited"] >= 0.4, outcome  # it waited for the submit instead of writing past it
    assert Response.objects.get(attempt_id=payload["id"], slot_id=slot).value == "before"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the prepared statement is PostgreSQL's")
def test_the_save_reads_its_attempt_by_primary_key_whatever_the_statistics(taking):
    """The generic plan must not reach the attempt through the (state, accept_until) index.

    That plan read every attempt in progress for each save; it is what PostgreSQL
    chose for a table without statistics, which is every table right after a migrate.
    """
    from django.utils import timezone

    from courseapp.tokens import key_digest
    from quizzes.services import saves

    client, attempt, slot = taking
    assert save(client, attempt, slot, "warm", 1).status_code == 200  # prepared on this connection, facts cached
    facts = saves._attempt_facts(attempt)
    assert facts is not None
    params = saves._upsert_params(facts=facts, attempt_id=attempt, asker=key_digest("not a token"), slot_id=slot,
                                  value="x", seq=2, base=None, now=timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            cursor.execute(f"EXPLAIN EXECUTE quizzes_answer_save_token ({', '.join(['%s'] * len(params))})", params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET plan_cache_mode")
    assert "quizzes_attempt_pkey" in plan, plan
    assert "quizzes_att_state_accept_idx" not in plan, plan
