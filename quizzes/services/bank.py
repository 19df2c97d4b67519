"""Writes for the question bank: create and edit questions, GIFT import, answer-key changes.

Only the course's instructor edits the bank (quizzes.access.can_author); `by=None`
is the system (the demo loader, imports run by a command).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from courseapp.models import Course, User
from courseapp.numbers import PointsError, parse_points
from courseapp.text import control_character_error

from .. import calculations as calc
from .. import gift
from ..access import require_author
from ..models import Answer, KeyChange, Question, QuestionType, Quiz, Response, TextFormat
from ..selectors import key_of


def positive_points(points, *, what: str) -> Decimal:
    try:
        value = parse_points(points, what=what)  # the site's points parser: 2.5 or 2,5, two decimals at most
    except PointsError as exc:
        raise ValidationError(str(exc)) from None
    if value <= 0 or value >= 10000:
        raise ValidationError(f"{what} must be a positive number of points below 10000.")
    return value



QUESTION_FIELDS = {
    "category", "title", "text", "text_format", "qtype", "default_points", "correct_bool", "true_feedback", "false_feedback",
    "case_sensitive", "use_regex", "manual_review", "rubric", "general_feedback",
}
ANSWER_FIELDS = {"id", "text", "fraction", "feedback", "value", "tolerance", "match"}


def _decimal(value, *, what: str) -> Decimal:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{what} “{value}” is not a number.") from None
    if not number.is_finite():
        raise ValidationError(f"{what} “{value}” is not a number.")
    return number


def _refuse_control_characters(values: dict, *, where: str) -> None:
    """ValidationError naming the field and position of a control character (NUL …) in a text value.

    Tabs and line breaks are text; the rest cannot be stored in PostgreSQL (NUL) or exported."""
    for name, value in values.items():
        if isinstance(value, str):
            error = control_character_error(value, label=f"{where}{name.replace('_', ' ')}", multiline=True)
            if error:
                raise ValidationError(error)


def _clean_answers(qtype: str, answers: list[dict], *, use_regex: bool) -> list[dict]:
    """Answers checked for the question type; raises ValidationError saying what to fix."""
    cleaned = []
    for i, raw in enumerate(answers, start=1):
        unknown = set(raw) - ANSWER_FIELDS
        if unknown:
            raise ValidationError(f"Answer {i}: unknown fields {', '.join(sorted(unknown))}.")
        _refuse_control_characters(raw, where=f"answer {i}'s ")
        fraction = _decimal(raw.get("fraction", 0), what=f"Answer {i}: the fraction")
        if not Decimal("-1") <= fraction <= Decimal("1"):
            raise ValidationError(f"Answer {i}: the fraction must lie between -1 and 1 (e.g. 0.5 for half credit).")
        item: dict[str, Any] = {"id": raw.get("id"), "text": str(raw.get("text", "")).strip(), "fraction": fraction,
                "feedback": str(raw.get("feedback", "")), "value": None, "tolerance": Decimal("0"),
                "match": str(raw.get("match", "")).strip()}
        if qtype == QuestionType.MATCHING:
            if not item["match"]:
                raise ValidationError(f"Answer {i}: give the item's partner (match), or remove the row.")
            item["fraction"] = Decimal("1") if item["text"] else Decimal("0")  # an item without text: a distractor
            cleaned.append(item)
            continue
        item["match"] = ""
        if qtype == QuestionType.NUMERIC:
            if raw.get("value") in (None, ""):
                raise ValidationError(f"Answer {i}: a numeric answer needs a value.")
            item["value"] = _decimal(raw["value"], what=f"Answer {i}: the value")
            item["tolerance"] = abs(_decimal(raw.get("tolerance", 0) or 0, what=f"Answer {i}: the tolerance"))
            item["text"] = item["text"] or str(item["value"])
        elif not item["text"]:
            raise ValidationError(f"Answer {i} has no text; write the choice or accepted answer.")
        if qtype in (QuestionType.SHORT, QuestionType.NUMERIC, QuestionType.SINGLE) and fraction < 0:
            raise ValidationError(f"Answer {i}: only multiple-choice answers may carry a negative fraction.")
        if qtype == QuestionType.SHORT and use_regex:
            try:
                re.compile(item["text"])
            except re.error as exc:
                raise ValidationError(f"Answer {i}: “{item['text']}” is not a valid regular expression ({exc}).") from None
        cleaned.append(item)
    if qtype in (QuestionType.TRUEFALSE, QuestionType.ESSAY):
        if cleaned:
            raise ValidationError(f"A {QuestionType(qtype).label.lower()} question takes no answer list.")
        return cleaned
    if not cleaned:
        raise ValidationError("Add at least one answer.")
    if qtype == QuestionType.MATCHING:
        if sum(1 for a in cleaned if a["text"]) < 2:
            raise ValidationError("A matching question needs at least two items, each with its partner.")
        return cleaned
    if qtype in (QuestionType.SINGLE, QuestionType.MULTI) and len(cleaned) < 2:
        raise ValidationError("A choice question needs at least two choices.")
    if qtype == QuestionType.MULTI:
        if sum(a["fraction"] for a in cleaned if a["fraction"] > 0) <= 0:
            raise ValidationError("No choice earns credit; give the right choices positive fractions.")
    elif max(a["fraction"] for a in cleaned) <= 0:
        raise ValidationError("No answer earns credit; give the right answer the fraction 1.")
    return cleaned


def _clean_question(fields: dict) -> dict:
    unknown = set(fields) - QUESTION_FIELDS
    if unknown:
        raise ValidationError(f"Unknown question fields: {', '.join(sorted(unknown))}.")
    if fields.get("qtype") not in QuestionType.values:
        raise ValidationError(f"Unknown question type “{fields.get('qtype')}”; use one of {', '.join(QuestionType.values)}.")
    if not str(fields.get("text", "")).strip():
        raise ValidationError("Write the question's text.")
    _refuse_control_characters(fields, where="question's ")
    if fields.setdefault("text_format", TextFormat.PLAIN) not in TextFormat.values:
        raise ValidationError(f"Unknown text format “{fields['text_format']}”; use one of {', '.join(TextFormat.values)}.")
    if fields["qtype"] == QuestionType.TRUEFALSE and fields.get("correct_bool") is None:
        raise ValidationError("Say whether the statement is true or false (correct_bool).")
    if "default_points" in fields:
        fields["default_points"] = positive_points(fields["default_points"], what="Default points")
    fields["title"] = str(fields.get("title") or fields["text"])[:200].strip()
    return fields


def question_check(*, answers: list[dict], **fields) -> tuple[dict, list[dict]]:
    """The question's fields and answers as they would be stored, or ValidationError saying what to fix (no writes)."""
    fields = _clean_question(dict(fields))
    return fields, _clean_answers(fields["qtype"], list(answers), use_regex=fields.get("use_regex", False))


def _write_answers(question: Question, answers: list[dict]) -> None:
    """Store `answers` for `question`, keeping the ids of answers that have one (students' choices point at them)."""
    existing = {a.id: a for a in question.answers.all()}
    keep = set()
    for position, item in enumerate(answers):
        answer_id = item.pop("id", None)
        if answer_id is not None:
            if answer_id not in existing:
                raise ValidationError(f"Answer id {answer_id} does not belong to this question.")
            answer = existing[answer_id]
            for name, value in item.items():
                setattr(answer, name, value)
            answer.position = position
            answer.save()
            keep.add(answer_id)
        else:
            keep.add(Answer.objects.create(question=question, position=position, **item).id)
    Answer.objects.filter(question=question).exclude(id__in=keep).delete()


@transaction.atomic
def question_create(*, course: Course, by: User | None, answers: Sequence[dict] = (), **fields) -> Question:
    """A new bank question. answers: dicts with text, fraction (-1..1), feedback, value, tolerance."""
    require_author(by, course)
    fields = _clean_question(dict(fields))
    cleaned = _clean_answers(fields["qtype"], list(answers), use_regex=fields.get("use_regex", False))
    question = Question.objects.create(course=course, **fields)
    for position, item in enumerate(cleaned):
        item.pop("id", None)
        Answer.objects.create(question=question, position=position, **item)
    return question


@dataclass
class QuestionUpdate:
    question: Question
    key_change: KeyChange | None  # set when the key changed and finished attempts exist: offer a regrade
    affected_attempts: int


@transaction.atomic
def question_update(*, question: Question, by: User | None, answers: list[dict] | None = None, **fields) -> QuestionUpdate:
    """Edit a bank question. Changing the answer key after attempts exist records a KeyChange.

    answers: the full new answer list (None keeps the answers). Items with an `id`
    update that answer in place, so students' chosen choice ids stay valid; items
    without one are added; answers left out are deleted. The type cannot change
    once students have answered the question.
    """
    from ..selectors import affected_attempts

    require_author(by, question.course)
    question = Question.objects.select_for_update().get(pk=question.pk)
    before = calc.key_summary(key_of(question))
    merged = {name: getattr(question, name) for name in QUESTION_FIELDS}
    merged.update(fields)
    merged = _clean_question(merged)
    affected = affected_attempts(question=question)
    started = Response.objects.filter(slot__question=question).exists()
    if merged["qtype"] != question.qtype and started:
        raise ValidationError("Students have answered this question; its type can no longer change. "
                              "Create a new question instead.")
    if answers is not None:
        cleaned = _clean_answers(merged["qtype"], list(answers), use_regex=merged.get("use_regex", False))
    else:
        cleaned = None
    for name, value in merged.items():
        setattr(question, name, value)
    question.save()
    if cleaned is not None:
        _write_answers(question, cleaned)
    question = Question.objects.prefetch_related("answers").get(pk=question.pk)
    from .authoring import layout_changed

    layout_changed(quizzes=Quiz.objects.filter(slots__question=question))  # texts, points or keys they show changed
    after = calc.key_summary(key_of(question))
    key_change = None
    if before != after:
        question.key_version += 1
        question.save(update_fields=["key_version"])
        if affected:
            key_change = KeyChange.objects.create(question=question, changed_by=by, before=before, after=after)
    return QuestionUpdate(question=question, key_change=key_change, affected_attempts=affected if key_change else 0)


def parsed_fields(parsed: gift.ParsedQuestion) -> tuple[dict, list[dict]]:
    fields: dict[str, Any] = {
        "category": parsed.category, "title": parsed.title, "text": parsed.text, "qtype": parsed.qtype,
        "general_feedback": parsed.general_feedback, "text_format": parsed.text_format,
    }
    if parsed.qtype == QuestionType.TRUEFALSE:
        fields.update(correct_bool=parsed.correct_bool, true_feedback=parsed.true_feedback,
                      false_feedback=parsed.false_feedback)
    answers = [
        {"text": a.text, "fraction": a.fraction, "feedback": a.feedback, "value": a.value, "tolerance": a.tolerance,
         "match": a.match}
        for a in parsed.answers
    ]
    return fields, answers


@transaction.atomic
def questions_import_gift(*, course: Course, text: str, by: User | None, category: str = "") -> list[Question]:
    """Every question of a GIFT text added to the bank, all or none.

    category: a bank folder for questions the text puts in none ($CATEGORY wins).
    Raises ValidationError naming the line of the first question that cannot be read.
    """
    require_author(by, course)
    error = control_character_error(text, label="GIFT text", multiline=True)
    if error:
        raise ValidationError(error)
    try:
        parsed = gift.parse(text)
    except gift.GiftError as exc:
        raise ValidationError(str(exc)) from None
    if not parsed:
        raise ValidationError("The text holds no question; separate questions by a blank line and give each {…}.")
    created = []
    for item in parsed:
        fields, answers = parsed_fields(item)
        fields["category"] = fields["category"] or category
        try:
            created.append(question_create(course=course, by=by, answers=answers, **fields))
        except ValidationError as exc:
            raise ValidationError(f"Line {item.line}: {' '.join(exc.messages)}") from None
    return created


@transaction.atomic
def question_update_from_gift(*, question: Question, text: str, by: User | None, **extra) -> QuestionUpdate:
    """Edit a question by its GIFT text (the bank's edit form). Answers keep their ids by position.

    extra: other question fields the GIFT text does not carry (points, rubric, short-answer rules).
    """
    try:
        parsed = gift.parse(text)
    except gift.GiftError as exc:
        raise ValidationError(str(exc)) from None
    if len(parsed) != 1:
        raise ValidationError("Write exactly one question here (no blank lines inside it).")
    fields, answers = parsed_fields(parsed[0])
    fields["category"] = fields["category"] or question.category
    fields.update(extra)
    existing = list(question.answers.all())
    for item, answer in zip(answers, existing, strict=False):
        item["id"] = answer.id
    return question_update(question=question, by=by, answers=answers, **fields)
