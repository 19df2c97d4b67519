"""One attempt, several devices: server versions, conflicts, the poll, bad values, the deadline submit."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from freezegun import freeze_time

from quizzes.models import Attempt, Response

from . import factories as f

pytestmark = pytest.mark.django_db

CODE = "ceng501-2024f"


def start(client, quiz):
    return client.post(reverse("quizzes:api-attempts", args=[quiz.course.code, quiz.id]))


def put(client, attempt_id, slot, body):
    return client.put(reverse("quizzes:api-answer", args=[CODE, attempt_id, slot]), data=body,
                      content_type="application/json")


def save(client, attempt_id, slot, value, base):
    return put(client, attempt_id, slot, json.dumps({"value": value, "base": base}))


def versions(client, attempt_id, values=""):
    url = reverse("quizzes:api-answer-versions", args=[CODE, attempt_id])
    return client.get(url + (f"?values={values}" if values else ""))


@pytest.fixture
def quiz(course):
    return f.quiz(course, questions=[f.question(course, "short"), f.question(course, "essay"),
                                     f.question(course, "multi")],
                  title="Devices", time_limit=dt.timedelta(minutes=10))


@pytest.fixture
def two_devices(client_for, student, quiz):
    laptop, phone = client_for(student), client_for(student)
    payload = start(laptop, quiz).json()
    assert start(phone, quiz).json()["id"] == payload["id"]
    return laptop, phone, payload["id"], f.slot_of(payload, "short")["slot"]


def test_each_save_raises_the_server_version_and_the_next_save_names_it(two_devices):
    laptop, _, attempt, slot = two_devices
    first = save(laptop, attempt, slot, "grad", 0)
    assert first.status_code == 200 and first.json()["version"] == 1
    second = save(laptop, attempt, slot, "gradient", 1)
    assert second.status_code == 200 and second.json()["version"] == 2
    stored = Response.objects.get(attempt_id=attempt, slot_id=slot)
    assert (stored.value, stored.version) == ("gradient", 2)


def test_a_save_over_another_devices_newer_answer_is_a_conflict_with_the_servers_value(two_devices):
    laptop, phone, attempt, slot = two_devices
    assert save(laptop, attempt, slot, "from the laptop", 0).status_code == 200
    # The phone, offline since the page loaded (version 0), comes back with its own edit.
    refused = save(phone, attempt, slot, "from the phone", 0)
    assert refused.status_code == 409
    body = refused.json()
    assert body["code"] == "conflict" and body["value"] == "from the laptop" and body["version"] == 1
    assert body["saved_at"] and "changed on another device at" in body["detail"]
    assert Response.objects.get(attempt_id=attempt, slot_id=slot).value == "from the laptop"
    # "Keep mine": the same edit, now based on the version the conflict reported.
    kept = save(phone, attempt, slot, "from the phone", body["version"])
    assert kept.status_code == 200 and kept.json()["version"] == 2
    assert Response.objects.get(attempt_id=attempt, slot_id=slot).value == "from the phone"


def test_the_order_of_saves_never_depends_on_a_clients_clock_or_numbers(two_devices):
    """The old protocol used Date.now() as seq: a device whose clock was 10 minutes slow lost its later edit."""
    laptop, phone, attempt, slot = two_devices
    assert save(laptop, attempt, slot, "first", 0).status_code == 200
    later = save(phone, attempt, slot, "second, from a slow clock", 1)  # the phone saw version 1, then edited
    assert later.status_code == 200
    assert Response.objects.get(attempt_id=attempt, slot_id=slot).value == "second, from a slow clock"


def test_a_retried_save_whose_answer_was_lost_is_acknowledged_not_a_conflict(two_devices):
    laptop, _, attempt, slot = two_devices
    assert save(laptop, attempt, slot, "once", 0).json()["version"] == 1
    retry = save(laptop, attempt, slot, "once", 0)  # the first 200 never reached the page
    assert retry.status_code == 200 and retry.json()["version"] == 1 and retry.json()["stale"] is False
    assert Response.objects.get(attempt_id=attempt, slot_id=slot).version == 1


def test_scripts_numbering_their_saves_with_seq_still_work(two_devices):
    laptop, _, attempt, slot = two_devices
    assert put(laptop, attempt, slot, json.dumps({"value": "a", "seq": 5})).json()["version"] == 1
    stale = put(laptop, attempt, slot, json.dumps({"value": "old", "seq": 4})).json()
    assert stale["stale"] is True and stale["seq"] == 5
    assert save(laptop, attempt, slot, "versioned", 1).json()["version"] == 2
    stored = Response.objects.get(attempt_id=attempt, slot_id=slot)
    assert (stored.value, stored.client_seq) == ("versioned", 5)


def test_the_poll_gives_versions_cheaply_and_values_only_when_asked(two_devices):
    laptop, phone, attempt, slot = two_devices
    save(laptop, attempt, slot, "laptop answer", 0)
    versions(phone, attempt)  # the first poll on a connection prepares its statements (PostgreSQL)
    with CaptureQueriesContext(connection) as ctx:
        polled = versions(phone, attempt)
    assert polled.status_code == 200
    body = polled.json()
    assert body["state"] == "in_progress" and body["server_now"]
    assert body["answers"] == [{"slot": slot, "version": 1, "saved_at": body["answers"][0]["saved_at"]}]
    data_sql = [q["sql"] for q in ctx.captured_queries if "quizzes_" in q["sql"]]
    assert len(data_sql) <= 2, data_sql
    with_values = versions(phone, attempt, values=str(slot)).json()
    assert with_values["answers"][0]["value"] == "laptop answer"


def test_the_poll_refuses_bad_lists_other_students_and_staff(two_devices, client_for, other_student, instructor):
    _, phone, attempt, _ = two_devices
    assert versions(phone, attempt, values="1,x").status_code == 400
    assert versions(client_for(other_student), attempt).status_code == 404
    assert versions(client_for(instructor), attempt).status_code == 404


def test_a_page_learns_the_attempt_was_submitted_elsewhere(two_devices):
    laptop, phone, attempt, _ = two_devices
    assert laptop.post(reverse("quizzes:api-submit", args=[CODE, attempt])).status_code == 200
    assert versions(phone, attempt).json()["state"] == "graded"


@pytest.mark.parametrize("body, what", [
    (json.dumps({"value": "a\u0000b", "base": 0}), "NUL"),
    (json.dumps({"value": "\ud800", "base": 0}), "broken character"),
    ("[" * 50000 + "]" * 50000, "nested too deeply"),
    ('{"value": ' + "[" * 50000 + "]" * 50000 + ', "base": 0}', "nested too deeply"),
    (json.dumps({"value": {"a": [1, {"b": 2}]}, "base": 0}), "as text"),
    (json.dumps({"value": "x", "base": "1"}), "base"),
    (json.dumps({"value": "x", "base": -1}), "base"),
    (json.dumps({"value": "x", "base": True}), "base"),
    (json.dumps({"value": "x"}), "base"),
    (json.dumps(["x", 1]), "JSON object with named fields"),  # refused by the site's parser
])
def test_every_bad_value_is_a_400_that_says_what_to_fix(two_devices, body, what):
    laptop, _, attempt, slot = two_devices
    refused = put(laptop, attempt, slot, body)
    assert refused.status_code == 400, refused.content[:300]
    assert what in refused.json()["detail"]
    assert not Response.objects.filter(attempt_id=attempt).exists()


@pytest.mark.parametrize("value", ["a\u0000b", "\udfff"])
def test_bad_text_is_a_400_on_the_token_fast_path_too(student, quiz, value):
    from django.test import Client

    from courseapp.tokens import token_create

    client = Client(HTTP_AUTHORIZATION=f"Token {token_create(user=student)[1]}")
    payload = start(client, quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    refused = put(client, payload["id"], slot, json.dumps({"value": value, "base": 0}))
    assert refused.status_code == 400
    assert not Response.objects.filter(attempt_id=payload["id"]).exists()


def test_a_token_client_gets_the_same_conflict(student, quiz):
    from django.test import Client

    from courseapp.tokens import token_create

    client = Client(HTTP_AUTHORIZATION=f"Token {token_create(user=student)[1]}")
    payload = start(client, quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    assert save(client, payload["id"], slot, "one", 0).json()["version"] == 1
    refused = save(client, payload["id"], slot, "two", 0)
    assert refused.status_code == 409 and refused.json()["version"] == 1 and refused.json()["value"] == "one"


def test_the_taking_page_embeds_an_answer_reading_script_end_safely(two_devices, quiz):
    laptop, _, attempt, _ = two_devices
    payload = laptop.get(reverse("quizzes:api-attempt", args=[CODE, attempt])).json()
    essay = f.slot_of(payload, "essay")["slot"]
    nasty = '</script><script>alert(1)</script> & "quotes"'
    assert save(laptop, attempt, essay, nasty, 0).status_code == 200
    html = laptop.get(reverse("quizzes:attempt", args=[CODE, attempt])).content.decode()
    config_start = html.index('<script id="quiz-config" type="application/json">')
    config_text = html[config_start:].split(">", 1)[1].split("</script>", 1)[0]
    assert json.loads(config_text)["answers"][str(essay)] == {
        "value": nasty, "version": 1, "savedAt": json.loads(config_text)["answers"][str(essay)]["savedAt"]}
    assert "<script>alert(1)" not in html


def test_a_submit_at_the_deadline_marks_the_attempt_auto_submitted(client_for, student, course):
    with freeze_time("2024-10-09 10:00:00+03:00") as clock:
        quiz = f.quiz(course, questions=[f.question(course, "short")], time_limit=dt.timedelta(minutes=10))
        client = client_for(student)
        attempt = start(client, quiz).json()["id"]
        clock.tick(dt.timedelta(minutes=9, seconds=58))  # the page's timer ran out; its estimate is 2 s early
        done = client.post(reverse("quizzes:api-submit", args=[CODE, attempt]), data=json.dumps({"auto": True}),
                           content_type="application/json")
    assert done.status_code == 200 and done.json()["auto_submitted"] is True
    assert Attempt.objects.get(pk=attempt).auto_submitted is True


def test_a_page_cannot_call_an_early_submit_automatic(client_for, student, quiz):
    client = client_for(student)
    attempt = start(client, quiz).json()["id"]
    done = client.post(reverse("quizzes:api-submit", args=[CODE, attempt]), data=json.dumps({"auto": True}),
                       content_type="application/json")
    assert done.status_code == 200 and done.json()["auto_submitted"] is False
    refused = client.post(reverse("quizzes:api-submit", args=[CODE, attempt]), data=json.dumps({"auto": "yes"}),
                          content_type="application/json")
    assert refused.status_code == 400 and "auto" in refused.json()["detail"]


def test_a_submit_in_the_grace_period_is_automatic(client_for, student, course):
    with freeze_time("2024-10-09 10:00:00+03:00") as clock:
        quiz = f.quiz(course, questions=[f.question(course, "short")], time_limit=dt.timedelta(minutes=10),
                      grace_seconds=5)
        client = client_for(student)
        attempt = start(client, quiz).json()["id"]
        clock.tick(dt.timedelta(minutes=10, seconds=2))
        done = client.post(reverse("quizzes:api-submit", args=[CODE, attempt]))
    assert done.json()["auto_submitted"] is True


@pytest.mark.parametrize("by_token", [True, False])
def test_the_poll_is_answered_by_the_fast_path_for_tokens_and_sessions(by_token, student, quiz, client_for):
    from unittest import mock

    from django.test import Client

    from courseapp.tokens import token_create
    from quizzes.apis import AnswerVersionsApi

    if by_token:
        client = Client(HTTP_AUTHORIZATION=f"Token {token_create(user=student)[1]}")
    else:
        client = client_for(student)
    attempt = start(client, quiz).json()["id"]
    with mock.patch.object(AnswerVersionsApi, "get", side_effect=AssertionError("the DRF view was called")):
        assert versions(client, attempt).status_code == 200  # the first poll on a connection prepares (PostgreSQL)
        with CaptureQueriesContext(connection) as ctx:
            polled = versions(client, attempt)
    assert polled.status_code == 200 and polled.json()["state"] == "in_progress"
    assert polled["Cache-Control"] == "private, no-store"
    sql = [q["sql"] for q in ctx.captured_queries]
    assert len(sql) <= (2 if by_token else 4), sql
    if connection.vendor == "postgresql":  # planned once per connection, not on every poll
        assert not [q for q in sql if q.startswith("PREPARE")], sql
        assert sum(q.startswith("EXECUTE quizzes_poll_") for q in sql) == 2, sql


def test_a_poll_the_fast_path_cannot_answer_is_explained_by_the_api(student, quiz, client_for):
    from django.test import Client

    from courseapp.tokens import token_create

    client = client_for(student)
    attempt = start(client, quiz).json()["id"]
    assert versions(Client(HTTP_AUTHORIZATION="Token " + "0" * 40), attempt).status_code == 401
    assert versions(Client(), attempt).status_code in (401, 403)
    student.is_active = False
    student.save(update_fields=["is_active"])
    token = token_create(user=student)[1]
    assert versions(Client(HTTP_AUTHORIZATION=f"Token {token}"), attempt).status_code == 401
    assert versions(client, attempt).status_code in (401, 403)  # the session no longer authenticates


def test_a_revoked_token_cannot_poll(student, quiz):
    from django.test import Client

    from courseapp.tokens import token_create, token_revoke

    token, key = token_create(user=student)
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    attempt = start(client, quiz).json()["id"]
    assert versions(client, attempt).status_code == 200
    token_revoke(token=token)
    refused = versions(client, attempt)
    assert refused.status_code == 401 and refused.json()["detail"] == "Invalid token."


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the prepared statement is PostgreSQL's")
def test_the_prepared_poll_reads_its_attempt_by_primary_key(student, quiz):
    """The poll runs on its generic plan: it must reach the attempt by primary key, not by scanning."""
    from django.test import Client

    from courseapp.tokens import key_digest, token_create
    key = token_create(user=student)[1]
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    attempt = start(client, quiz).json()["id"]
    assert versions(client, attempt).status_code == 200  # prepared on this connection
    with connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_generic_plan")
        try:
            cursor.execute("EXPLAIN EXECUTE quizzes_poll_attempt_token (%s, %s, %s)",
                           [attempt, key_digest(key), quiz.course.code])
            plan = "\n".join(row[0] for row in cursor.fetchall())
        finally:
            cursor.execute("RESET plan_cache_mode")
    assert "quizzes_attempt_pkey" in plan, plan
    assert "Seq Scan on quizzes_attempt" not in plan, plan


@pytest.mark.parametrize("by_token", [True, False])
def test_a_poll_or_save_for_an_attempt_id_beyond_any_id_is_a_404(by_token, student, quiz, client_for):
    """The prepared statements take bigint parameters: an id past 2**63 must be a 404, not a database error."""
    from django.test import Client

    from courseapp.tokens import token_create

    client = Client(HTTP_AUTHORIZATION=f"Token {token_create(user=student)[1]}") if by_token else client_for(student)
    attempt = start(client, quiz).json()
    slot = attempt["questions"][0]["slot"]
    versions(client, attempt["id"])  # the statements are prepared on this connection
    for huge in (2**63, 10**30):
        assert versions(client, huge).status_code == 404
        assert save(client, huge, slot, "x", 0).status_code == 404
        assert save(client, attempt["id"], huge, "x", 0).status_code in (400, 404)
    assert versions(client, attempt["id"]).status_code == 200  # the connection is still usable
