"""Matching questions: authoring, taking (an object of picks), partial credit, review, the editor."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
from django.urls import reverse

from quizzes import calculations as calc
from quizzes.models import Attempt

from . import factories as f

CODE = "ceng501-2024f"
PAIRS = [{"text": "Conv", "match": "local features"}, {"text": "Pool", "match": "downsampling"},
         {"text": "Softmax", "match": "probabilities"}, {"text": "", "match": "sorting"}]


def key():
    return calc.Key(qtype="matching", answers=tuple(
        calc.KeyAnswer(id=i, text=p["text"], match=p["match"], fraction=D("1") if p["text"] else D("0"))
        for i, p in enumerate(PAIRS, 1)))


def test_each_item_right_earns_its_share():
    assert calc.grade_answer(key(), {"1": "local features", "2": "downsampling", "3": "probabilities"}).fraction == 1
    assert calc.grade_answer(key(), {"1": "local features", "2": "sorting"}).fraction == D("0.3333333")
    assert calc.grade_answer(key(), {}).fraction == 0


def test_a_layout_shuffles_the_partners_and_validates_picks():
    (entry,) = calc.build_layout(slots=[(9, "matching", [1, 2, 3], [p["match"] for p in PAIRS])],
                                 shuffle_questions=False, shuffle_choices=False, seed="s")
    assert sorted(entry["options"]) == sorted(p["match"] for p in PAIRS) and entry["choices"] == [1, 2, 3]
    assert calc.validate_value(entry, {"1": "sorting"}) is None
    assert "pairing item ids" in calc.validate_value(entry, {"1": "nonsense"})
    assert "pairing item ids" in calc.validate_value(entry, {"4": "sorting"})
    assert "pairing item ids" in calc.validate_value(entry, ["sorting"])


@pytest.mark.django_db
def test_a_student_matches_submits_and_reviews(course, student, client_for):
    question = f.question(course, "matching", answers=PAIRS)
    quiz = f.quiz(course, questions=[question], title="Match", points=[3], review_after_submit=["score", "answers",
                                                                                                    "correct"])
    client = client_for(student)
    payload = client.post(reverse("quizzes:api-attempts", args=[CODE, quiz.id])).json()
    q = payload["questions"][0]
    assert [i["text"] for i in q["match_items"]] == ["Conv", "Pool", "Softmax"]
    assert sorted(q["options"]) == ["downsampling", "local features", "probabilities", "sorting"]
    page = client.get(reverse("quizzes:attempt", args=[CODE, payload["id"]])).content.decode()
    assert 'class="match-input"' in page and "<option>sorting</option>" in page
    ids = {i["text"]: str(i["id"]) for i in q["match_items"]}
    url = reverse("quizzes:api-answer", args=[CODE, payload["id"], q["slot"]])
    picks = {ids["Conv"]: "local features", ids["Pool"]: "sorting"}
    assert client.put(url, data=json.dumps({"value": picks, "base": 0}),
                      content_type="application/json").status_code == 200
    bad = client.put(url, data=json.dumps({"value": {ids["Conv"]: "made up"}, "base": 1}),
                     content_type="application/json")
    assert bad.status_code == 400
    client.post(reverse("quizzes:api-submit", args=[CODE, payload["id"]]))
    assert Attempt.objects.get(pk=payload["id"]).score == D("1.00")  # one of three items right, of 3 points
    review = client.get(reverse("quizzes:api-attempt", args=[CODE, payload["id"]])).json()["questions"][0]
    assert review["mark"] == "partly"
    assert review["correct_text"] == ["Conv → local features", "Pool → downsampling", "Softmax → probabilities"]
    rows = {r["text"]: (r["chosen"], r["right"]) for r in review["match_items"]}
    assert rows == {"Conv": ("local features", True), "Pool": ("sorting", False), "Softmax": ("", False)}
    html = client.get(reverse("quizzes:attempt", args=[CODE, payload["id"]])).content.decode()
    assert "Right match" in html and "probabilities" in html


@pytest.mark.django_db
def test_the_editor_writes_a_matching_question(course, instructor, client_for):
    from quizzes.models import Question

    data = {"qtype": "matching", "text": "Match the layers", "text_format": "plain", "default_points": "2",
            "title": "", "category": "", "rows": "3",
            "answer-0-text": "Conv", "answer-0-match": "local features",
            "answer-1-text": "Pool", "answer-1-match": "downsampling",
            "answer-2-text": "", "answer-2-match": "sorting"}
    client = client_for(instructor)
    preview = client.post(reverse("quizzes:question-new", args=[CODE]), data={**data, "preview": "1"})
    assert "Conv → local features" in preview.content.decode()
    assert client.post(reverse("quizzes:question-new", args=[CODE]), data=data).status_code == 302
    question = Question.objects.get(text="Match the layers")
    assert [(a.text, a.match) for a in question.answers.all()] == [
        ("Conv", "local features"), ("Pool", "downsampling"), ("", "sorting")]
