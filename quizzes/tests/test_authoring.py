"""Authoring, review policy, regrade, manual grading, statistics and every refused role, through HTTP."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal as D
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from grading.models import Grade, GradeChange, GradeItem
from quizzes import services
from quizzes.calendar import course_events
from quizzes.grade_link import GradeItemExists
from quizzes.models import Attempt, AttemptState, KeyChange, Question, QuestionType, Quiz, RegradeEntry

from . import factories as f
from .test_taking import save, start, submit

pytestmark = pytest.mark.django_db
CODE = "ceng501-2024f"


def api(name, *args):
    return reverse(f"quizzes:{name}", args=[CODE, *args])


def post_json(client, url, data, method="post"):
    return getattr(client, method)(url, data=json.dumps(data), content_type="application/json")


# --- authoring ------------------------------------------------------------------------

def test_instructor_creates_a_quiz_with_questions_and_it_becomes_a_grade_item(client_for, instructor, course):
    client = client_for(instructor)
    now = timezone.now()
    created = post_json(client, api("api-quizzes"), {
        "title": "Quiz on CNNs", "opens_at": now.isoformat(), "closes_at": (now + dt.timedelta(days=1)).isoformat(),
        "time_limit_minutes": 20, "max_attempts": 2, "grading_method": "average",
        "lecture": course.lectures.get(week=3).id, "published": True,
    })
    assert created.status_code == 201, created.content
    quiz_id = created.json()["id"]
    question = post_json(client, api("api-questions"), {
        "type": "single", "title": "Stride", "text": "Output width of a 5-wide input, kernel 3, stride 1?",
        "answers": [{"text": "3", "fraction": 1}, {"text": "5", "fraction": 0}], "default_points": "2",
    })
    assert question.status_code == 201, question.content
    slot = post_json(client, api("api-slots", quiz_id), {"question": question.json()["id"]})
    assert slot.status_code == 201 and slot.json()["points"] == "2.00"
    item = GradeItem.objects.get(quiz__id=quiz_id)
    assert (item.category.name, item.name, item.points_possible) == ("Quizzes", "Quiz on CNNs", D("2.00"))
    assert item.due_at == Quiz.objects.get(pk=quiz_id).closes_at


def test_quiz_that_closes_before_it_opens_is_refused_with_what_to_fix(client_for, instructor):
    now = timezone.now()
    refused = post_json(client_for(instructor), api("api-quizzes"), {
        "title": "Backwards", "opens_at": now.isoformat(), "closes_at": (now - dt.timedelta(hours=1)).isoformat()})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "The quiz must close after it opens; move the closing time later."


def test_quiz_in_a_year_far_from_any_course_is_refused_and_nothing_stored(client_for, instructor):
    """Year 0481 (a typo the schema fuzzer found) got Istanbul's local mean time offset, +01:55:52."""
    before = Quiz.objects.count()
    refused = post_json(client_for(instructor), api("api-quizzes"), {
        "title": "Typo", "opens_at": "0481-03-01T10:00:00+03:00", "closes_at": "2024-12-01T10:00:00+03:00"})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "The opening time must be in the years 2000 to 2099; 481 is not."
    assert Quiz.objects.count() == before


def test_question_without_a_right_answer_is_refused(client_for, instructor):
    refused = post_json(client_for(instructor), api("api-questions"), {
        "type": "single", "text": "?", "answers": [{"text": "a", "fraction": 0}, {"text": "b", "fraction": 0}]})
    assert refused.status_code == 400
    assert refused.json()["detail"] == "No answer earns credit; give the right answer the fraction 1."


def test_invalid_regular_expression_is_refused(client_for, instructor):
    refused = post_json(client_for(instructor), api("api-questions"), {
        "type": "short", "text": "?", "use_regex": True, "answers": [{"text": "(relu", "fraction": 1}]})
    assert refused.status_code == 400 and "is not a valid regular expression" in refused.json()["detail"]


def test_questions_cannot_change_once_students_attempted(client_for, instructor, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "short")])
    start(client_for(student), quiz)
    extra = f.question(course, "essay")
    refused = post_json(client_for(instructor), api("api-slots", quiz.id), {"question": extra.id})
    assert refused.status_code == 400 and refused.json()["detail"].startswith("Students have already attempted this quiz")


def test_gift_import_and_export_through_the_api(client_for, instructor):
    client = client_for(instructor)
    text = "::ReLU:: max(0,x) is called {=ReLU ~tanh}\n\n::Eta:: Learning rate symbol? {=eta =η}\n\n::Bad:: {=a -> b}"
    refused = post_json(client, api("api-gift"), {"text": text})
    # (matching questions are read now; this one has no text)
    assert refused.status_code == 400 and refused.json()["detail"] == "Line 5: the question has no text."
    assert not Question.objects.exists()  # all or nothing
    created = post_json(client, api("api-gift"), {"text": text.rsplit("\n\n", 1)[0], "category": "Imported"})
    assert created.status_code == 201 and len(created.json()["created"]) == 2
    exported = client.get(api("api-gift"))
    assert exported.status_code == 200
    assert "::ReLU:: max(0,x) is called {=ReLU ~tanh}" in exported.content.decode()


def test_bank_page_imports_gift_and_shows_errors(client_for, instructor):
    client = client_for(instructor)
    page = client.post(reverse("quizzes:bank", args=[CODE]), {"text": "No braces here", "category": ""})
    assert page.status_code == 200 and "no answer block" in page.content.decode()
    ok = client.post(reverse("quizzes:bank", args=[CODE]), {"text": "Q? {T}", "category": "TF"}, follow=True)
    assert "Imported 1 question(s)." in ok.content.decode()


# --- permissions ----------------------------------------------------------------------

@pytest.fixture
def quiz_with_attempt(course, student):
    quiz = f.quiz(course, questions=[f.question(course, "short"), f.question(course, "essay")])
    return quiz


@pytest.mark.parametrize("who", ["student", "ta"])
def test_only_the_instructor_authors(client_for, request, who, course):
    client = client_for(request.getfixturevalue(who))
    now = timezone.now()
    quiz = f.quiz(course, questions=[f.question(course, "short")])
    assert post_json(client, api("api-quizzes"), {"title": "X", "opens_at": now.isoformat(),
                                                  "closes_at": now.isoformat()}).status_code == 403
    assert post_json(client, api("api-questions"), {"type": "essay", "text": "?"}).status_code == 403
    assert post_json(client, api("api-quiz", quiz.id), {"title": "Y"}, method="patch").status_code == 403
    assert post_json(client, api("api-gift"), {"text": "Q {}"}).status_code == 403
    assert client.get(reverse("quizzes:create", args=[CODE])).status_code == 403


def test_student_is_refused_the_bank_results_statistics_and_grading(client_for, student, course):
    client = client_for(student)
    quiz = f.quiz(course, questions=[f.question(course, "essay")])
    for url in (api("api-questions"), api("api-gift"), api("api-results", quiz.id), api("api-statistics", quiz.id),
                api("api-grading", quiz.id), reverse("quizzes:statistics", args=[CODE, quiz.id]),
                reverse("quizzes:grading", args=[CODE, quiz.id]), reverse("quizzes:bank", args=[CODE])):
        assert client.get(url).status_code == 403, url


def test_student_cannot_grade_answers(client_for, student, other_student, course):
    quiz = f.quiz(course, questions=[f.question(course, "essay")])
    payload = start(client_for(other_student), quiz).json()
    save(client_for(other_student), payload["id"], payload["questions"][0]["slot"], "My essay", 1)
    submit(client_for(other_student), payload["id"])
    response_id = Attempt.objects.get(pk=payload["id"]).responses.get().id
    refused = post_json(client_for(student), api("api-grade-response", response_id), {"points": 1})
    assert refused.status_code == 403


def test_another_students_attempt_is_a_404_everywhere(client_for, student, other_student, course):
    quiz = f.quiz(course, questions=[f.question(course, "short")])
    theirs = start(client_for(other_student), quiz).json()
    slot = theirs["questions"][0]["slot"]
    client = client_for(student)
    assert client.get(api("api-attempt", theirs["id"])).status_code == 404
    assert client.get(reverse("quizzes:attempt", args=[CODE, theirs["id"]])).status_code == 404
    assert save(client, theirs["id"], slot, "hijack", 99).status_code == 404
    assert submit(client, theirs["id"]).status_code == 404
    assert Attempt.objects.get(pk=theirs["id"]).state == AttemptState.IN_PROGRESS


def test_outsider_sees_no_quiz(client_for, outsider, course):
    quiz = f.quiz(course, questions=[f.question(course, "short")])
    client = client_for(outsider)
    assert client.get(api("api-quizzes")).status_code == 404
    assert client.get(api("api-quiz", quiz.id)).status_code == 404
    assert client.post(api("api-attempts", quiz.id)).status_code == 404


def test_students_do_not_see_unpublished_quizzes(client_for, student, course):
    draft = f.quiz(course, questions=[f.question(course, "short")], published=False, title="Draft")
    client = client_for(student)
    assert [q["title"] for q in client.get(api("api-quizzes")).json()] == []
    assert client.get(api("api-quiz", draft.id)).status_code == 404


def test_anonymous_is_refused(client, course):
    assert client.get(api("api-quizzes")).status_code in (401, 403)
    assert client.get(reverse("quizzes:list", args=[CODE])).status_code == 302


# --- review policy: what a student's payloads contain -----------------------------------

def _all_keys(obj):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield k
            yield from _all_keys(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _all_keys(v)


def test_student_payloads_never_carry_the_key_before_the_policy_allows(client_for, student, course):
    with freeze_time("2024-10-09 10:00:00+03:00") as clock:
        questions = [f.question(course, t) for t in ("single", "multi", "short")]
        quiz = f.quiz(course, questions=questions, review_after_submit=["score"],
                      review_after_close=["score", "answers", "correct", "feedback"])
        client = client_for(student)
        taking = start(client, quiz).json()
        keys = set(_all_keys(taking))
        assert not keys & {"fraction", "correct", "feedback", "earned", "score"}
        for url in (api("api-attempt", taking["id"]), reverse("quizzes:attempt", args=[CODE, taking["id"]])):
            body = client.get(url).content.decode()
            assert '"fraction"' not in body and '"correct"' not in body
        submitted = submit(client, taking["id"]).json()
        assert submitted["score"] == "0.00" and submitted["review"] == ["score"]
        assert not set(_all_keys(submitted)) & {"fraction", "correct", "feedback", "answer"}
        clock.tick(dt.timedelta(hours=3))  # the quiz has closed
        review = client.get(api("api-attempt", taking["id"])).json()
        assert review["review"] == ["answers", "correct", "feedback", "score"]
        single = f.slot_of(review, "single")
        relu = next(c for c in single["choices"] if c["text"] == "ReLU")
        assert single["correct"] == relu["id"] and relu["fraction"] == "1"


def test_review_with_nothing_after_submit_shows_no_score(client_for, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "short")], review_after_submit=[], review_after_close=[])
    client = client_for(student)
    payload = start(client, quiz).json()
    done = submit(client, payload["id"]).json()
    assert "score" not in done and done["review"] == []
    listing = client.get(api("api-attempts", quiz.id)).json()
    assert "score" not in listing[0]


def test_staff_see_the_key_and_every_attempt(client_for, ta, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "single")], review_after_submit=[], review_after_close=[])
    payload = start(client_for(student), quiz).json()
    submit(client_for(student), payload["id"])
    review = client_for(ta).get(api("api-attempt", payload["id"])).json()
    assert "correct" in review["questions"][0] and review["student"]["id"] == student.id
    results = client_for(ta).get(api("api-results", quiz.id)).json()
    assert [a["student"]["id"] for a in results["attempts"]] == [student.id]


# --- regrade ---------------------------------------------------------------------------

def test_changing_the_key_offers_a_regrade_that_records_and_reposts(client_for, instructor, student, other_student, course,
                                                                   django_capture_on_commit_callbacks):
    q = f.question(course, "single")
    quiz = f.quiz(course, questions=[q], points=[2])
    step = {c.text: c.id for c in q.answers.all()}
    for who, choice in ((student, "ReLU"), (other_student, "Step")):
        client = client_for(who)
        payload = start(client, quiz).json()
        save(client, payload["id"], payload["questions"][0]["slot"], step[choice], 1)
        submit(client, payload["id"])
    assert Grade.objects.get(item=quiz.grade_item, student=other_student).points == D("0.00")

    # The instructor decides "Step" is also right (full credit).
    answers = [{"id": a.id, "text": a.text, "fraction": 1 if a.text in ("ReLU", "Step") else 0} for a in q.answers.all()]
    changed = post_json(client_for(instructor), api("api-question", q.id), {"answers": answers}, method="patch")
    assert changed.status_code == 200
    offer = changed.json()["regrade_offer"]
    assert offer["affected_attempts"] == 2
    assert [a["fraction"] for a in offer["before"]["answers"]] == ["1", "0", "0"]
    assert [a["fraction"] for a in offer["after"]["answers"]] == ["1", "1", "0"]
    # Nothing moves until the instructor accepts the offer.
    assert Grade.objects.get(item=quiz.grade_item, student=other_student).points == D("0.00")

    # Accepting queues the quizzes.regrade task after commit (tests run tasks eagerly); the answer is 202 at once.
    with mock.patch("quizzes.tasks.regrade.delay") as sent:
        with django_capture_on_commit_callbacks(execute=True):
            queued = client_for(instructor).post(offer["regrade_url"])
    assert queued.status_code == 202 and queued.json()["queued"] is True
    sent.assert_called_once_with(offer["key_change"], instructor.id)
    assert Grade.objects.get(item=quiz.grade_item, student=other_student).points == D("0.00")  # not run in the request
    status = client_for(instructor).get(offer["regrade_url"]).json()
    assert status["regraded_at"] is None and status["entries"] == []

    with django_capture_on_commit_callbacks(execute=True):  # now let the task run (eagerly)
        client_for(instructor).post(offer["regrade_url"])
    done = client_for(instructor).get(offer["regrade_url"]).json()
    assert done["regraded_at"] is not None and done["regraded_by"] == str(instructor)
    assert [(e["old_score"], e["new_score"]) for e in done["entries"]] == [("0.00", "2.00")]
    assert Grade.objects.get(item=quiz.grade_item, student=other_student).points == D("2.00")
    history = GradeChange.objects.filter(item=quiz.grade_item, student=other_student).first()
    assert "regrade after the answer key" in history.reason
    # Regrading again changes nothing.
    from quizzes.tasks import regrade as regrade_task

    assert regrade_task.delay(offer["key_change"], instructor.id).get() == 0 and RegradeEntry.objects.count() == 1
    assert KeyChange.objects.get().regraded_at is not None


def test_editing_only_wording_is_not_a_key_change(client_for, instructor, student, course):
    q = f.question(course, "short")
    quiz = f.quiz(course, questions=[q])
    payload = start(client_for(student), quiz).json()
    submit(client_for(student), payload["id"])
    changed = post_json(client_for(instructor), api("api-question", q.id), {"text": "Reworded?"}, method="patch")
    assert "regrade_offer" not in changed.json() and not KeyChange.objects.exists()


def test_ta_cannot_regrade(client_for, ta, course):
    q = f.question(course, "short")
    kc = KeyChange.objects.create(question=q, before={}, after={})
    assert client_for(ta).post(reverse("quizzes:api-regrade", args=[CODE, kc.id])).status_code == 403
    with pytest.raises(PermissionDenied):  # the service checks its acting user too, whoever calls it
        services.regrade(key_change=kc, by=ta)
    assert KeyChange.objects.get().regraded_at is None


def test_the_regrade_page_queues_the_task_and_says_so(client_for, instructor, course, django_capture_on_commit_callbacks):
    q = f.question(course, "short")
    kc = KeyChange.objects.create(question=q, before={}, after={})
    with mock.patch("quizzes.tasks.regrade.delay") as sent:
        with django_capture_on_commit_callbacks(execute=True):
            page = client_for(instructor).post(reverse("quizzes:regrade", args=[CODE, kc.id]), follow=True)
    sent.assert_called_once_with(kc.id, instructor.id)
    assert "Regrade queued" in page.content.decode()


# --- manual grading -------------------------------------------------------------------

def test_essays_wait_for_a_ta_and_the_score_completes_with_the_last_grade(client_for, ta, student, other_student, course):
    essay = f.question(course, "essay", rubric="2 points: mentions vanishing gradients.")
    quiz = f.quiz(course, questions=[f.question(course, "short"), essay], points=[1, 2],
                  review_after_submit=["score", "feedback"])
    ids = []
    for who in (student, other_student):
        client = client_for(who)
        payload = start(client, quiz).json()
        save(client, payload["id"], f.slot_of(payload, "short")["slot"], "backprop", 1)
        save(client, payload["id"], f.slot_of(payload, "essay")["slot"], "Skip connections keep gradients alive.", 1)
        done = submit(client, payload["id"]).json()
        assert done["state"] == "needs_grading" and done["score"] is None
        ids.append(payload["id"])
    assert not Grade.objects.filter(item=quiz.grade_item).exists()

    staff = client_for(ta)
    queue = staff.get(api("api-grading", quiz.id)).json()
    assert [(q["title"], q["pending"]) for q in queue] == [("essay question", 2)]
    answers = staff.get(api("api-grading-slot", quiz.id, queue[0]["slot"])).json()
    assert answers["rubric"] == "2 points: mentions vanishing gradients." and len(answers["responses"]) == 2
    too_many = post_json(staff, api("api-grade-response", answers["responses"][0]["id"]), {"points": 3})
    assert too_many.status_code == 400 and too_many.json()["detail"] == "Enter points between 0 and 2.00 for this question."
    third = post_json(staff, api("api-grade-response", answers["responses"][0]["id"]), {"points": "1.255"})
    assert third.status_code == 400 and "1.255 has more than two decimals" in third.json()["detail"]
    nan = post_json(staff, api("api-grade-response", answers["responses"][0]["id"]), {"points": "NaN"})
    assert nan.status_code == 400 and "“NaN” is not a number" in nan.json()["detail"]
    mine = next(r for r in answers["responses"] if r["attempt"] == ids[0])
    graded = post_json(staff, api("api-grade-response", mine["id"]), {"points": "1,5", "comment": "Say why."})
    assert graded.json()["attempt_state"] == "graded"
    assert Grade.objects.get(item=quiz.grade_item, student=student).points == D("2.50")
    assert Attempt.objects.get(pk=ids[1]).state == AttemptState.NEEDS_GRADING
    review = client_for(student).get(api("api-attempt", ids[0])).json()
    assert f.slot_of(review, "essay")["grader_comment"] == "Say why."


def test_grading_page_for_ta(client_for, ta, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "essay")])
    payload = start(client_for(student), quiz).json()
    save(client_for(student), payload["id"], payload["questions"][0]["slot"], "An essay", 1)
    submit(client_for(student), payload["id"])
    slot_id = payload["questions"][0]["slot"]
    page = client_for(ta).get(reverse("quizzes:grading-slot", args=[CODE, quiz.id, slot_id]))
    assert page.status_code == 200 and "An essay" in page.content.decode()
    response_id = Attempt.objects.get(pk=payload["id"]).responses.get().id
    client_for(ta).post(reverse("quizzes:grading-slot", args=[CODE, quiz.id, slot_id]),
                        {"response": response_id, "points": "1", "comment": ""})
    assert Grade.objects.get(item=quiz.grade_item, student=student).points == D("1.00")


# --- statistics -------------------------------------------------------------------------

def test_statistics_over_first_attempts(client_for, instructor, course):
    from courseapp.models import Membership

    q1, q2 = f.question(course, "truefalse"), f.question(course, "short")
    quiz = f.quiz(course, questions=[q1, q2], max_attempts=2)
    students = [m.user for m in Membership.objects.filter(course=course, role="student").order_by("user__username")[:4]]
    answers = [(True, "backprop"), (True, "no"), (False, "no"), (True, "backprop")]
    for who, (tf, short) in zip(students, answers, strict=True):
        client = client_for(who)
        payload = start(client, quiz).json()
        save(client, payload["id"], f.slot_of(payload, "truefalse")["slot"], tf, 1)
        save(client, payload["id"], f.slot_of(payload, "short")["slot"], short, 1)
        submit(client, payload["id"])
    # A second attempt must not count.
    client = client_for(students[2])
    payload = start(client, quiz).json()
    save(client, payload["id"], f.slot_of(payload, "truefalse")["slot"], True, 1)
    submit(client, payload["id"])

    stats = client_for(instructor).get(api("api-statistics", quiz.id)).json()
    assert stats["attempts"] == 4
    facility = {q["type"]: q["facility"] for q in stats["questions"]}
    assert facility == {"truefalse": pytest.approx(75.0), "short": pytest.approx(50.0)}
    assert [b["count"] for b in stats["distribution"]] == [1, 0, 0, 0, 0, 1, 0, 0, 0, 2]
    disc = {q["type"]: q["discrimination"] for q in stats["questions"]}
    assert disc["truefalse"] == pytest.approx(100 * 0.5773502691896258)
    page = client_for(instructor).get(reverse("quizzes:statistics", args=[CODE, quiz.id]))
    assert page.status_code == 200 and "Facility" in page.content.decode()


# --- calendar ---------------------------------------------------------------------------

def test_calendar_events_mark_each_published_quiz_opening_and_closing(course):
    quiz = f.quiz(course, questions=[f.question(course, "short")], title="Calendar quiz")
    f.quiz(course, questions=[], title="Hidden", published=False)
    events = course_events(course)
    assert [e["summary"] for e in events] == ["CENG 501 quiz opens: Calendar quiz", "CENG 501 quiz closes: Calendar quiz"]
    assert [(e["start"], e["end"]) for e in events] == [(quiz.opens_at, None), (quiz.closes_at, None)]
    assert [e["uid"] for e in events] == [f"quiz-{quiz.id}-opens@{CODE}.quizzes", f"quiz-{quiz.id}-closes@{CODE}.quizzes"]


# --- pages ------------------------------------------------------------------------------

def test_pages_render_for_each_role(client_for, instructor, ta, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "single"), f.question(course, "essay")])
    for who in (instructor, ta, student):
        client = client_for(who)
        for url in (reverse("quizzes:list", args=[CODE]), reverse("quizzes:detail", args=[CODE, quiz.id])):
            page = client.get(url)
            assert page.status_code == 200 and quiz.title in page.content.decode()
    started = client_for(student).post(reverse("quizzes:start", args=[CODE, quiz.id]))
    assert started.status_code == 302
    page = client_for(student).get(started["Location"])
    assert b"quiz-config" in page.content and b"take.js" in page.content
    assert client_for(instructor).get(reverse("quizzes:edit", args=[CODE, quiz.id])).status_code == 200
    assert client_for(instructor).get(reverse("quizzes:bank", args=[CODE])).status_code == 200


def test_a_quiz_never_silently_takes_over_the_gradebook_item_of_the_same_name(course):
    """It used to: the item's grades then silently became the quiz's. Now the instructor is asked."""
    from grading.models import Category

    item = GradeItem.objects.create(course=course, category=Category.objects.get(course=course, name="Quizzes"),
                                    name="Quiz 7", points_possible=D("10"))
    with pytest.raises(GradeItemExists, match="already has an item named “Quiz 7”"):
        f.quiz(course, title="Quiz 7")
    assert not Quiz.objects.filter(title="Quiz 7").exists()
    quiz = services.quiz_create(course=course, by=None, title="Quiz 7", grade_item=item,
                                opens_at=timezone.now(), closes_at=timezone.now() + dt.timedelta(hours=1))
    services.slot_add(quiz=quiz, question=f.question(course, "short"), by=None, points=D("4"))
    item.refresh_from_db()
    assert quiz.grade_item_id == item.id and item.points_possible == D("4.00") and item.due_at == quiz.closes_at


def test_creating_a_quiz_over_an_existing_item_asks_in_the_api_and_the_page(course, instructor, client_for):
    from grading.models import Category

    item = GradeItem.objects.create(course=course, category=Category.objects.get(course=course, name="Quizzes"),
                                    name="Quiz 8", points_possible=D("10"))
    client = client_for(instructor)
    body = {"title": "Quiz 8", "opens_at": "2030-01-01T10:00:00+03:00", "closes_at": "2030-01-01T11:00:00+03:00"}
    asked = client.post(reverse("quizzes:api-quizzes", args=[CODE]), data=body, content_type="application/json")
    assert asked.status_code == 400
    assert asked.json()["code"] == "grade_item_exists" and asked.json()["grade_item"] == item.id
    made = client.post(reverse("quizzes:api-quizzes", args=[CODE]), data={**body, "use_grade_item": item.id},
                       content_type="application/json")
    assert made.status_code == 201 and made.json()["grade_item"] == item.id
    # The page: the error says what to tick; ticking it links the item.
    form = {"title": "Quiz 9", "opens_at": "2030-01-02T10:00", "closes_at": "2030-01-02T11:00", "grace_seconds": 5,
            "max_attempts": 1, "grading_method": "highest"}
    nine = GradeItem.objects.create(course=course, category=item.category, name="Quiz 9", points_possible=D("10"))
    page = client.post(reverse("quizzes:create", args=[CODE]), data=form)
    assert page.status_code == 200 and "grade into the existing item" in page.content.decode()
    assert client.post(reverse("quizzes:create", args=[CODE]),
                       data={**form, "use_existing_grade_item": "on"}).status_code == 302
    assert Quiz.objects.get(title="Quiz 9").grade_item_id == nine.id


def test_a_quiz_may_not_take_an_item_of_another_category(course):
    from django.core.exceptions import ValidationError

    from grading.models import Category

    GradeItem.objects.create(course=course, category=Category.objects.get(course=course, name="Final exam"),
                             name="Final exam", points_possible=D("100"))
    with pytest.raises(ValidationError, match="already has an item named “Final exam”"):
        f.quiz(course, title="Final exam")


@pytest.mark.parametrize(("points", "expected"), [("2,5", D("2.5")), ("2.50", D("2.50")), (3, D("3"))])
def test_question_points_are_read_with_the_sites_points_parser(points, expected):
    fields, _ = services.question_check(qtype=QuestionType.TRUEFALSE, text="Pooling has weights.", correct_bool=False,
                                        default_points=points, answers=[])
    assert fields["default_points"] == expected


@pytest.mark.parametrize(("points", "message"), [
    ("2.555", "Default points: 2.555 has more than two decimals"), ("nan", "“nan” is not a number"),
    ("0", "must be a positive number of points below 10000"), ("-1", "-1 is negative"),
])
def test_question_points_that_are_not_points_are_refused(points, message):
    with pytest.raises(ValidationError, match=message):
        services.question_check(qtype=QuestionType.TRUEFALSE, text="Pooling has weights.", correct_bool=False,
                                default_points=points, answers=[])
