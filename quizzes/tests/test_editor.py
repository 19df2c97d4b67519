"""The question editor page: every type field by field, a preview that saves nothing, who may use it."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.urls import reverse

from quizzes.models import Answer, KeyChange, Question

from . import factories as f
from .test_taking import save, start, submit

pytestmark = pytest.mark.django_db

CODE = "ceng501-2024f"


def form(qtype, text, rows=(), **extra):
    data = {"qtype": qtype, "text": text, "text_format": "plain", "default_points": "1", "title": "",
            "category": "Editor", "rows": str(len(rows))}
    for n, row in enumerate(rows):
        for key, value in row.items():
            data[f"answer-{n}-{key}"] = value
    data.update(extra)
    return data


CASES = [
    ("single", [{"text": "ReLU", "fraction": "100"}, {"text": "Step", "fraction": "0", "feedback": "Flat."}], {},
     lambda q: [(a.text, a.fraction) for a in q.answers.all()] == [("ReLU", D("1")), ("Step", D("0"))]),
    ("multi", [{"text": "Dropout", "fraction": "50"}, {"text": "L2", "fraction": "50"}, {"text": "LR", "fraction": "-100"}],
     {}, lambda q: [a.fraction for a in q.answers.all()] == [D("0.5"), D("0.5"), D("-1")]),
    ("truefalse", [], {"correct_bool": "false", "false_feedback": "Right."},
     lambda q: q.correct_bool is False and q.false_feedback == "Right." and not q.answers.exists()),
    ("numeric", [{"value": "0,25", "tolerance": "0.001", "fraction": "100"}], {},
     lambda q: [(a.value, a.tolerance) for a in q.answers.all()] == [(D("0.25"), D("0.001"))]),
    ("short", [{"text": "backprop", "fraction": "100"}, {"text": "", "fraction": ""}], {"case_sensitive": "on"},
     lambda q: q.case_sensitive and [a.text for a in q.answers.all()] == ["backprop"]),
    ("essay", [], {"rubric": "Chain rule named.", "manual_review": "on"},
     lambda q: q.rubric == "Chain rule named." and not q.answers.exists()),
]


@pytest.mark.parametrize("qtype, rows, extra, check", CASES, ids=[c[0] for c in CASES])
def test_the_instructor_writes_each_type_in_the_page(client_for, instructor, course, qtype, rows, extra, check):
    response = client_for(instructor).post(reverse("quizzes:question-new", args=[CODE]),
                                           data=form(qtype, f"A {qtype} question?", rows, **extra))
    assert response.status_code == 302, response.content.decode()[-2000:]
    question = Question.objects.prefetch_related("answers").get(course=course, text=f"A {qtype} question?")
    assert question.qtype == qtype and question.category == "Editor" and check(question)


def test_preview_shows_the_question_as_a_student_sees_it_and_saves_nothing(client_for, instructor, course):
    before = Question.objects.count()
    data = form("numeric", "What is **1/4**?", [{"value": "0.25", "tolerance": "0.001", "fraction": "100",
                                                 "feedback": "Yes."}], text_format="markdown", preview="1")
    page = client_for(instructor).post(reverse("quizzes:question-new", args=[CODE]), data=data)
    html = page.content.decode()
    assert page.status_code == 200 and 'id="question-preview"' in html
    assert "What is <strong>1/4</strong>?" in html and "0.25 ± 0.001" in html and 'inputmode="decimal"' in html
    assert Question.objects.count() == before
    assert 'value="What is **1/4**?"' in html or "What is **1/4**?</textarea>" in html  # the form keeps what was typed


def test_mistakes_are_shown_with_what_to_fix_and_nothing_is_saved(client_for, instructor, course):
    client = client_for(instructor)
    before = Question.objects.count()
    bad_credit = client.post(reverse("quizzes:question-new", args=[CODE]),
                             data=form("single", "Pick", [{"text": "A", "fraction": "lots"}, {"text": "B"}]))
    assert "Answer row 1: the credit “lots” is not a percentage" in bad_credit.content.decode()
    no_right = client.post(reverse("quizzes:question-new", args=[CODE]),
                           data=form("single", "Pick", [{"text": "A", "fraction": "0"}, {"text": "B", "fraction": "0"}]))
    assert "No answer earns credit" in no_right.content.decode()
    assert Question.objects.count() == before


def test_editing_keeps_answer_ids_and_a_key_change_after_attempts_offers_a_regrade(client_for, instructor, student,
                                                                                     course):
    question = f.question(course, "single")
    quiz = f.quiz(course, questions=[question])
    taker = client_for(student)
    payload = start(taker, quiz).json()
    step = Answer.objects.get(question=question, text="Step").id
    save(taker, payload["id"], payload["questions"][0]["slot"], step, 1)
    submit(taker, payload["id"])
    client = client_for(instructor)
    page = client.get(reverse("quizzes:question-edit", args=[CODE, question.id])).content.decode()
    assert 'value="ReLU"' in page and 'value="100"' in page
    ids = list(question.answers.values_list("id", flat=True))
    rows = [{"id": str(ids[0]), "text": "ReLU", "fraction": "0"}, {"id": str(ids[1]), "text": "Step", "fraction": "100"},
            {"id": str(ids[2]), "text": "Sign", "fraction": "0"}]
    saved = client.post(reverse("quizzes:question-edit", args=[CODE, question.id]),
                        data=form("single", question.text, rows), follow=True)
    assert "The answer key changed and 1 submitted attempt(s) used this question" in saved.content.decode()
    assert list(question.answers.values_list("id", flat=True)) == ids
    assert KeyChange.objects.filter(question=question, regraded_at__isnull=True).exists()


def test_only_the_instructor_edits_questions(client_for, ta, student, course):
    question = f.question(course, "short")
    for who, status in ((ta, 403), (student, 403)):
        client = client_for(who)
        assert client.get(reverse("quizzes:question-new", args=[CODE])).status_code == status
        assert client.post(reverse("quizzes:question-edit", args=[CODE, question.id]),
                           data=form("short", "Hijack", [{"text": "x", "fraction": "100"}])).status_code == status
    assert Question.objects.get(pk=question.id).text != "Hijack"
