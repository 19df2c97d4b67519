"""Building quizzes for tests through the same services the product uses."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.utils import timezone

from quizzes import services
from quizzes.models import Question, Quiz

D = Decimal


def question(course, qtype: str, *, title: str | None = None, **fields) -> Question:
    """A bank question of each type with a sensible default key."""
    answers = fields.pop("answers", None)
    if answers is None:
        answers = {
            "single": [{"text": "ReLU", "fraction": 1}, {"text": "Step", "fraction": 0}, {"text": "Sign", "fraction": 0}],
            "multi": [{"text": "Dropout", "fraction": "0.5"}, {"text": "Weight decay", "fraction": "0.5"},
                      {"text": "Bigger learning rate", "fraction": -1}],
            "truefalse": [],
            "numeric": [{"value": "3.14", "tolerance": "0.01", "fraction": 1}],
            "short": [{"text": "backpropagation", "fraction": 1}, {"text": "backprop", "fraction": 1}],
            "essay": [],
        }[qtype]
    if qtype == "truefalse":
        fields.setdefault("correct_bool", True)
    return services.question_create(
        course=course, by=None, qtype=qtype, title=title or f"{qtype} question",
        text=fields.pop("text", f"A {qtype} question?"), answers=answers, **fields,
    )


def quiz(course, *, questions=(), title: str = "Quiz", opens_in: dt.timedelta = dt.timedelta(hours=-1),
         length: dt.timedelta = dt.timedelta(hours=2), points=None, **fields) -> Quiz:
    """A published quiz open now (by default) with `questions` in order."""
    now = timezone.now()
    fields.setdefault("published", True)
    fields.setdefault("shuffle_choices", False)
    made = services.quiz_create(
        course=course, by=None, title=title, opens_at=now + opens_in, closes_at=now + opens_in + length, **fields
    )
    for i, q in enumerate(questions):
        services.slot_add(quiz=made, question=q, by=None, points=None if points is None else points[i])
    return made


def slot_of(attempt_payload: dict, qtype: str) -> dict:
    return next(q for q in attempt_payload["questions"] if q["type"] == qtype)
