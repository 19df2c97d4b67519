"""Taking a quiz through the API: start, save, time rules, submit, the gradebook."""

from __future__ import annotations

import datetime as dt
import json
import threading
from decimal import Decimal as D

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from freezegun import freeze_time

from grading.models import Grade, GradeChange
from quizzes import services, tasks
from quizzes.models import Attempt, AttemptState, Response

from . import factories as f

pytestmark = pytest.mark.django_db


def start(client, quiz):
    return client.post(reverse("quizzes:api-attempts", args=[quiz.course.code, quiz.id]))


def save(client, attempt_id, slot, value, seq, code="ceng501-2024f"):
    return client.put(
        reverse("quizzes:api-answer", args=[code, attempt_id, slot]),
        data=json.dumps({"value": value, "seq": seq}), content_type="application/json",
    )


def submit(client, attempt_id, code="ceng501-2024f"):
    return client.post(reverse("quizzes:api-submit", args=[code, attempt_id]))


@pytest.fixture
def all_types_quiz(course):
    questions = [f.question(course, t) for t in ("single", "multi", "truefalse", "numeric", "short")]
    return f.quiz(course, questions=questions, title="All types", points=[1, 2, 1, 1, 1])


def answer_all_right(client, payload):
    a = payload["id"]
    by_type = {q["type"]: q for q in payload["questions"]}
    relu = next(c["id"] for c in by_type["single"]["choices"] if c["text"] == "ReLU")
    multi = [c["id"] for c in by_type["multi"]["choices"] if c["text"] in ("Dropout", "Weight decay")]
    for slot, value in [(by_type["single"]["slot"], relu), (by_type["multi"]["slot"], multi),
                        (by_type["truefalse"]["slot"], True), (by_type["numeric"]["slot"], "3.141"),
                        (by_type["short"]["slot"], " BackProp ")]:
        assert save(client, a, slot, value, 1).status_code == 200


def test_student_takes_a_quiz_and_the_score_reaches_the_gradebook(client_for, student, all_types_quiz):
    client = client_for(student)
    response = start(client, all_types_quiz)
    assert response.status_code == 201
    payload = response.json()
    answer_all_right(client, payload)
    result = submit(client, payload["id"])
    assert result.status_code == 200 and result.json()["state"] == "graded"
    grade = Grade.objects.get(item=all_types_quiz.grade_item, student=student)
    assert grade.points == D("6.00") and grade.source == "quiz"


def test_partial_credit_and_wrong_answers_are_scored(client_for, student, all_types_quiz):
    client = client_for(student)
    payload = start(client, all_types_quiz).json()
    by_type = {q["type"]: q for q in payload["questions"]}
    dropout, wrong = (next(c["id"] for c in by_type["multi"]["choices"] if c["text"] == t)
                      for t in ("Dropout", "Bigger learning rate"))
    save(client, payload["id"], by_type["multi"]["slot"], [dropout], 1)  # half of 2 points
    save(client, payload["id"], by_type["numeric"]["slot"], "3.2", 1)  # outside tolerance
    save(client, payload["id"], by_type["truefalse"]["slot"], False, 1)  # wrong
    submit(client, payload["id"])
    attempt = Attempt.objects.get(pk=payload["id"])
    assert attempt.score == D("1.00") and attempt.max_score == D("6.00")
    save_again = save(client, payload["id"], by_type["multi"]["slot"], [dropout, wrong], 2)
    assert save_again.status_code == 409


def test_saving_twice_with_the_same_seq_is_idempotent_and_a_stale_save_never_wins(client_for, student, all_types_quiz):
    client = client_for(student)
    payload = start(client, all_types_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    first = save(client, payload["id"], slot, "newer", 5).json()
    assert (first["seq"], first["stale"]) == (5, False)
    retry = save(client, payload["id"], slot, "newer", 5).json()  # a retried request: acknowledged, no change
    assert (retry["seq"], retry["stale"]) == (5, True)
    stale = save(client, payload["id"], slot, "older", 4).json()
    assert stale["stale"] is True and stale["seq"] == 5
    response = Response.objects.get(attempt_id=payload["id"], slot_id=slot)
    assert (response.value, response.client_seq) == ("newer", 5)
    assert Response.objects.filter(attempt_id=payload["id"], slot_id=slot).count() == 1
    assert save(client, payload["id"], slot, "newest", 6).json()["stale"] is False
    assert Response.objects.get(attempt_id=payload["id"], slot_id=slot).value == "newest"


def test_reload_restores_every_saved_answer(client_for, student, all_types_quiz):
    client = client_for(student)
    payload = start(client, all_types_quiz).json()
    answer_all_right(client, payload)
    again = start(client, all_types_quiz)  # "Start" on another device gives back the open attempt
    assert again.status_code == 200 and again.json()["id"] == payload["id"]
    restored = {q["type"]: q["answer"] for q in again.json()["questions"]}
    assert restored["truefalse"] is True and restored["numeric"] == "3.141" and restored["short"] == " BackProp "
    page = client.get(reverse("quizzes:attempt", args=["ceng501-2024f", payload["id"]]))
    assert page.status_code == 200 and b"3.141" in page.content


def test_save_path_uses_a_fixed_small_number_of_queries(client_for, student, all_types_quiz):
    client = client_for(student)
    payload = start(client, all_types_quiz).json()
    slot = f.slot_of(payload, "short")["slot"]
    save(client, payload["id"], slot, "warm", 1)
    with CaptureQueriesContext(connection) as ctx:
        assert save(client, payload["id"], slot, "x", 2).status_code == 200
    sql = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT"))]
    # session + user (authentication), then one statement that checks the attempt and upserts.
    assert len(sql) == 3, sql
    assert sql[-1].lstrip().startswith(
        "EXECUTE quizzes_answer_save_student" if connection.vendor == "postgresql" else "WITH attempt AS")


def test_bad_values_are_refused_with_what_to_send(client_for, student, all_types_quiz):
    client = client_for(student)
    payload = start(client, all_types_quiz).json()
    single = f.slot_of(payload, "single")["slot"]
    refused = save(client, payload["id"], single, 999999, 1)
    assert refused.status_code == 400 and refused.json()["detail"] == "Choose one of the question's options."
    no_seq = client.put(reverse("quizzes:api-answer", args=["ceng501-2024f", payload["id"], single]),
                        data=json.dumps({"value": None}), content_type="application/json")
    assert no_seq.status_code == 400 and "seq" in no_seq.json()["detail"]
    other_slot = save(client, payload["id"], 987654, "x", 1)
    assert other_slot.status_code == 400 and other_slot.json()["detail"] == "That question is not part of this attempt."


# --- time rules -------------------------------------------------------------------------

def test_answers_after_the_time_limit_are_refused_but_the_grace_period_absorbs_latency(client_for, student, course):
    with freeze_time("2024-10-09 10:00:00+03:00") as clock:
        quiz = f.quiz(course, questions=[f.question(course, "short")], time_limit=dt.timedelta(minutes=10),
                      grace_seconds=5)
        client = client_for(student)
        payload = start(client, quiz).json()
        slot = payload["questions"][0]["slot"]
        clock.tick(dt.timedelta(minutes=10, seconds=4))
        assert save(client, payload["id"], slot, "backprop", 1).status_code == 200  # within grace
        clock.tick(dt.timedelta(seconds=2))
        late = save(client, payload["id"], slot, "changed", 2)
        assert late.status_code == 409
        assert late.json()["detail"].startswith("Time is up: this attempt's deadline was 2024-10-09 10:10:00;")
        assert Response.objects.get(attempt_id=payload["id"]).value == "backprop"


def test_deadline_is_the_closing_time_when_the_limit_runs_past_it(client_for, student, course):
    with freeze_time("2024-10-09 10:00:00+03:00"):
        quiz = f.quiz(course, questions=[f.question(course, "short")], opens_in=dt.timedelta(minutes=-50),
                      length=dt.timedelta(hours=1), time_limit=dt.timedelta(minutes=30))
        payload = start(client_for(student), quiz).json()
    assert Attempt.objects.get(pk=payload["id"]).deadline == quiz.closes_at


def test_no_start_before_opening_or_after_closing(client_for, student, course):
    later = f.quiz(course, questions=[f.question(course, "short")], title="Later", opens_in=dt.timedelta(hours=1))
    closed = f.quiz(course, questions=[f.question(course, "essay")], title="Closed", opens_in=dt.timedelta(hours=-3))
    client = client_for(student)
    early = start(client, later)
    assert early.status_code == 403 and early.json()["detail"].startswith("This quiz opens at")
    late = start(client, closed)
    assert late.status_code == 403 and late.json()["detail"].startswith("This quiz closed at")


def test_attempt_limit(client_for, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "short")], max_attempts=1)
    client = client_for(student)
    submit(client, start(client, quiz).json()["id"])
    refused = start(client, quiz)
    assert refused.status_code == 403 and refused.json()["detail"] == "You have used all 1 attempt(s) allowed on this quiz."


def test_periodic_task_submits_expired_attempts_with_what_was_saved(client_for, student, other_student, course):
    with freeze_time("2024-10-09 10:00:00+03:00") as clock:
        quiz = f.quiz(course, questions=[f.question(course, "short"), f.question(course, "truefalse")],
                      time_limit=dt.timedelta(minutes=5), grace_seconds=5)
        client = client_for(student)
        payload = start(client, quiz).json()
        short = f.slot_of(payload, "short")["slot"]
        save(client, payload["id"], short, "backprop", 1)
        mine_later = start(client_for(other_student), quiz).json()  # still has time
        clock.tick(dt.timedelta(minutes=5, seconds=3))
        assert tasks.autosubmit_expired.delay().get() == 0  # inside the grace period
        clock.tick(dt.timedelta(seconds=3))
        Attempt.objects.filter(pk=mine_later["id"]).update(deadline=quiz.closes_at, accept_until=quiz.closes_at)
        assert tasks.autosubmit_expired.delay().get() == 1
        assert tasks.autosubmit_expired.delay().get() == 0  # nothing left: running again changes nothing
    attempt = Attempt.objects.get(pk=payload["id"])
    assert attempt.state == AttemptState.GRADED and attempt.auto_submitted
    assert attempt.submitted_at == attempt.deadline
    assert attempt.score == D("1.00")  # the saved short answer; the unanswered true/false scores 0
    assert Grade.objects.get(item=quiz.grade_item, student=student).points == D("1.00")
    assert Attempt.objects.get(pk=mine_later["id"]).state == AttemptState.IN_PROGRESS


# --- one effect ------------------------------------------------------------------------

def test_submitting_twice_has_one_effect(client_for, student, all_types_quiz):
    client = client_for(student)
    payload = start(client, all_types_quiz).json()
    answer_all_right(client, payload)
    first = submit(client, payload["id"]).json()
    second = submit(client, payload["id"]).json()
    assert first["already_submitted"] is False and second["already_submitted"] is True
    assert first["submitted_at"] == second["submitted_at"]
    assert GradeChange.objects.filter(item=all_types_quiz.grade_item, student=student).count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_tabs_submitting_at_once_submit_once(client_for, student, course):
    if connection.vendor == "sqlite" and connection.settings_dict["OPTIONS"].get("transaction_mode") != "IMMEDIATE":
        pytest.skip("concurrent writers need PostgreSQL (or SQLite with transaction_mode=IMMEDIATE)")
    quiz = f.quiz(course, questions=[f.question(course, "short")])
    payload = start(client_for(student), quiz).json()
    results = []

    def tab():
        from django.db import connection as conn

        results.append(submit(client_for(student), payload["id"]).json()["already_submitted"])
        conn.close()

    threads = [threading.Thread(target=tab) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [False, True]
    assert GradeChange.objects.filter(item=quiz.grade_item, student=student).count() == 1


def test_two_tabs_pressing_start_get_one_attempt(client_for, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "short")], max_attempts=3)
    one, two = start(client_for(student), quiz), start(client_for(student), quiz)
    assert (one.status_code, two.status_code) == (201, 200)
    assert one.json()["id"] == two.json()["id"]
    assert Attempt.objects.filter(quiz=quiz, student=student).count() == 1


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="concurrent starts need PostgreSQL: run with DATABASE_URL=postgres://… (SQLite serialises "
                           "writers, so the race cannot happen there)")
@pytest.mark.django_db(transaction=True)
def test_two_tabs_pressing_start_at_the_same_moment_get_one_attempt(client_for, student, course):
    """Two threads, each on its own database connection, start the same quiz at once (a barrier releases both)."""
    for round_ in range(5):  # several rounds, so that at least some really overlap on a busy machine
        quiz = f.quiz(course, questions=[f.question(course, "short")], max_attempts=3, title=f"Race {round_}")
        barrier = threading.Barrier(2)
        answers: list[tuple[int, int]] = []

        def tab(quiz=quiz, barrier=barrier, answers=answers):
            from django.db import connection as conn

            client = client_for(student)
            barrier.wait()
            response = start(client, quiz)
            answers.append((response.status_code, response.json()["id"]))
            conn.close()

        threads = [threading.Thread(target=tab) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(code for code, _ in answers) == [200, 201], answers
        assert len({attempt_id for _, attempt_id in answers}) == 1
        assert Attempt.objects.filter(quiz=quiz, student=student).count() == 1


def test_starting_again_after_the_deadline_submits_the_old_attempt_first(client_for, student, course):
    with freeze_time("2024-10-09 10:00:00+03:00") as clock:
        quiz = f.quiz(course, questions=[f.question(course, "short")], max_attempts=2,
                      time_limit=dt.timedelta(minutes=5))
        client = client_for(student)
        first = start(client, quiz).json()
        clock.tick(dt.timedelta(minutes=10))
        second = start(client, quiz).json()
    assert second["number"] == 2
    assert Attempt.objects.get(pk=first["id"]).auto_submitted


# --- grading methods ---------------------------------------------------------------------

@pytest.mark.parametrize("method, expected", [("highest", "1.00"), ("last", "0.00"), ("first", "1.00"), ("average", "0.50")])
def test_grading_method_across_attempts_flows_to_the_gradebook(client_for, student, course, method, expected):
    quiz = f.quiz(course, questions=[f.question(course, "short")], max_attempts=2, grading_method=method)
    client = client_for(student)
    for answer in ("backprop", "wrong"):
        payload = start(client, quiz).json()
        save(client, payload["id"], payload["questions"][0]["slot"], answer, 1)
        submit(client, payload["id"])
    assert Grade.objects.get(item=quiz.grade_item, student=student).points == D(expected)


def test_start_and_submit_load_the_quizs_questions_once(client_for, student, all_types_quiz):
    """They lay out or grade the attempt and build its payload from the same slots (bench/quiz_rush.py)."""
    client = client_for(student)

    def slot_queries(ctx):
        return [q["sql"] for q in ctx.captured_queries if 'FROM "quizzes_quizslot"' in q["sql"]]

    with CaptureQueriesContext(connection) as ctx:
        payload = start(client, all_types_quiz).json()
    assert len(slot_queries(ctx)) == 1
    data = [q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))]
    # session user, course, membership, quiz, my attempts, slots+questions, answers, the insert; no answers read
    assert len(data) <= 9, data
    assert not [q for q in data if 'FROM "quizzes_response"' in q]
    with CaptureQueriesContext(connection) as ctx:
        assert submit(client, payload["id"]).status_code == 200
    # The process already holds this version of the quiz's layout (selectors._LAYOUTS): no slot read at all,
    # and the graded answers go to the payload without being read again.
    assert slot_queries(ctx) == []
    assert len([q for q in ctx.captured_queries if 'FROM "quizzes_response"' in q["sql"]]) == 1
    assert len([q for q in ctx.captured_queries if q["sql"].startswith('UPDATE "quizzes_response"')]) <= 1


def test_the_layout_cache_follows_every_change_to_the_quizs_questions(client_for, instructor, student, course):
    """slots_of caches per process by layout_version; each authoring change raises it, so pages never go stale."""
    from quizzes import selectors
    from quizzes.models import Quiz

    question = f.question(course, "short", text="Old wording?")
    quiz = f.quiz(course, questions=[question], max_attempts=0)
    assert [s.question.text for s in selectors.slots_of(Quiz.objects.get(pk=quiz.pk))] == ["Old wording?"]
    services.question_update(question=question, by=instructor, text="New wording?")
    fresh = Quiz.objects.get(pk=quiz.pk)
    assert fresh.layout_version > quiz.layout_version
    assert [s.question.text for s in selectors.slots_of(fresh)] == ["New wording?"]
    other = f.question(course, "short", text="Second?")
    services.slot_add(quiz=fresh, question=other, by=instructor)
    assert [s.question.text for s in selectors.slots_of(Quiz.objects.get(pk=quiz.pk))] == ["New wording?", "Second?"]
    payload = start(client_for(student), quiz).json()
    assert [q["text"] for q in payload["questions"]] == ["New wording?", "Second?"]
