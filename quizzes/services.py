"""Writes for quizzes: authoring, taking (start, save, submit), grading, regrading.

Every function here is transactional. The same functions serve the pages, the
API, the Celery task and the demo loader. Errors a person can cause raise
django.core.exceptions.ValidationError (or AnswerRefused for the taking path)
with a message that says what to do.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction
from django.utils import timezone

from courseapp.models import ApiToken, Course, Membership, User
from courseapp.numbers import PointsError, parse_points
from courseapp.text import control_character_error
from courseapp.tokens import key_digest
from grading.models import GradeItem

from . import calculations as calc
from . import gift
from .grade_link import existing_grade_item, sync_grade_item
from .models import (
    REVIEW_PARTS,
    Answer,
    Attempt,
    AttemptState,
    GradingMethod,
    KeyChange,
    Question,
    QuestionType,
    Quiz,
    QuizSlot,
    RegradeEntry,
    Response,
    TextFormat,
)
from .selectors import forget_slots, key_of, layout_slot, slots_of

GRADE_SOURCE = "quiz"


# --- Authoring: quizzes ------------------------------------------------------------

QUIZ_FIELDS = {
    "title", "description", "lecture", "opens_at", "closes_at", "time_limit", "grace_seconds", "max_attempts",
    "grading_method", "shuffle_questions", "shuffle_choices", "review_after_submit", "review_after_close",
    "published",
}


def _check_quiz(quiz: Quiz) -> None:
    if not quiz.title.strip():
        raise ValidationError("Give the quiz a title.")
    if quiz.opens_at is None or quiz.closes_at is None:
        raise ValidationError("Set both the opening and the closing time.")
    if timezone.is_naive(quiz.opens_at) or timezone.is_naive(quiz.closes_at):
        raise ValidationError("Opening and closing times need a time zone.")
    if quiz.closes_at <= quiz.opens_at:
        raise ValidationError("The quiz must close after it opens; move the closing time later.")
    if quiz.time_limit is not None and quiz.time_limit <= dt.timedelta(0):
        raise ValidationError("The time limit must be positive, or empty for no limit.")
    if quiz.grading_method not in GradingMethod.values:
        raise ValidationError(f"Unknown grading method “{quiz.grading_method}”; use one of {', '.join(GradingMethod.values)}.")
    for name in ("review_after_submit", "review_after_close"):
        parts = getattr(quiz, name)
        if not isinstance(parts, list) or any(p not in REVIEW_PARTS for p in parts):
            raise ValidationError(f"{name} must be a list drawn from {', '.join(REVIEW_PARTS)}.")
    if quiz.lecture is not None and quiz.lecture.course_id != quiz.course_id:
        raise ValidationError("That lecture belongs to another course; pick one of this course's lectures.")
    if quiz.grace_seconds > 300:
        raise ValidationError("A grace period over 300 seconds is not a grace period; use at most 300.")


@transaction.atomic
def quiz_create(*, course: Course, by: User | None, grade_item: GradeItem | None = None, **fields) -> Quiz:
    """A new quiz with its own grade item in the course's Quizzes category.

    fields: any of QUIZ_FIELDS; opens_at/closes_at aware datetimes; time_limit a
    timedelta or None (no limit: until the quiz closes).
    grade_item: an existing, unlinked item of the Quizzes category to grade into
    instead (the gradebook may list "Quiz 3" before the quiz exists). Without it,
    an item with the quiz's title is never taken over: GradeItemExists asks.
    """
    unknown = set(fields) - QUIZ_FIELDS
    if unknown:
        raise ValidationError(f"Unknown quiz fields: {', '.join(sorted(unknown))}.")
    fields.setdefault("review_after_submit", ["score"])
    fields.setdefault("review_after_close", list(REVIEW_PARTS))
    quiz = Quiz(course=course, **fields)
    _check_quiz(quiz)
    if Quiz.objects.filter(course=course, title=quiz.title).exists():
        raise ValidationError(f"This course already has a quiz named “{quiz.title}”; choose another title.")
    quiz.grade_item = existing_grade_item(course=course, title=quiz.title, chosen=grade_item)
    quiz.save()
    sync_grade_item(quiz)
    return quiz


@transaction.atomic
def quiz_update(*, quiz: Quiz, by: User | None, **fields) -> Quiz:
    """Change a quiz's settings. A new closing time, time limit or grace period moves the deadlines of open attempts."""
    unknown = set(fields) - QUIZ_FIELDS
    if unknown:
        raise ValidationError(f"Unknown quiz fields: {', '.join(sorted(unknown))}.")
    quiz = Quiz.objects.select_for_update().get(pk=quiz.pk)
    for name, value in fields.items():
        setattr(quiz, name, value)
    _check_quiz(quiz)
    if Quiz.objects.filter(course=quiz.course, title=quiz.title).exclude(pk=quiz.pk).exists():
        raise ValidationError(f"This course already has a quiz named “{quiz.title}”; choose another title.")
    quiz.save()
    if {"closes_at", "time_limit", "grace_seconds"} & set(fields):
        for attempt in Attempt.objects.select_for_update().filter(quiz=quiz, state=AttemptState.IN_PROGRESS):
            attempt.deadline = calc.attempt_deadline(
                started_at=attempt.started_at, time_limit=quiz.time_limit, closes_at=quiz.closes_at
            )
            attempt.accept_until = calc.accept_until(deadline=attempt.deadline, grace_seconds=quiz.grace_seconds)
            attempt.save(update_fields=["deadline", "accept_until"])
    sync_grade_item(quiz)
    return quiz


def _positive_points(points, *, what: str) -> Decimal:
    try:
        value = parse_points(points, what=what)  # the site's points parser: 2.5 or 2,5, two decimals at most
    except PointsError as exc:
        raise ValidationError(str(exc)) from None
    if value <= 0 or value >= 10000:
        raise ValidationError(f"{what} must be a positive number of points below 10000.")
    return value


@transaction.atomic
def slot_add(*, quiz: Quiz, question: Question, by: User | None, points: Decimal | None = None) -> QuizSlot:
    """Put a bank question at the end of the quiz (worth `points`, default the question's)."""
    if question.course_id != quiz.course_id:
        raise ValidationError("That question belongs to another course's bank.")
    if Attempt.objects.filter(quiz=quiz).exists():
        raise ValidationError("Students have already attempted this quiz; its questions can no longer change "
                              "(edit a question's answer key and regrade instead).")
    if QuizSlot.objects.filter(quiz=quiz, question=question).exists():
        raise ValidationError(f"“{question.title}” is already in this quiz.")
    value = _positive_points(question.default_points if points is None else points, what="Points")
    position = (QuizSlot.objects.filter(quiz=quiz).order_by("-position").values_list("position", flat=True).first() or 0) + 1
    slot = QuizSlot.objects.create(quiz=quiz, question=question, points=value, position=position)
    forget_slots(quiz)
    sync_grade_item(quiz)
    return slot


@transaction.atomic
def slot_remove(*, slot: QuizSlot, by: User | None) -> None:
    if Attempt.objects.filter(quiz=slot.quiz).exists():
        raise ValidationError("Students have already attempted this quiz; its questions can no longer change.")
    quiz = slot.quiz
    slot.delete()
    forget_slots(quiz)
    sync_grade_item(quiz)


@transaction.atomic
def slots_reorder(*, quiz: Quiz, order: list[int], by: User | None) -> list[QuizSlot]:
    """Put the quiz's questions in `order` (every slot id of the quiz, once each); returns the slots in order.

    Allowed after attempts exist: an attempt keeps the order it was started
    with (its stored layout), so only attempts started later see the new one.
    The quiz row is locked so two editors' orders do not interleave.
    """
    Quiz.objects.select_for_update().filter(pk=quiz.pk).first()
    slots = {s.id: s for s in QuizSlot.objects.filter(quiz=quiz)}
    if (
        not isinstance(order, list) or any(isinstance(i, bool) or not isinstance(i, int) for i in order)
        or sorted(order) != sorted(slots)
    ):
        raise ValidationError(
            f"Send every question of the quiz exactly once, as the list of its {len(slots)} slot ids in the new "
            "order (reload the page if someone else changed the questions)."
        )
    changed = []
    for position, slot_id in enumerate(order, start=1):
        slot = slots[slot_id]
        if slot.position != position:
            slot.position = position
            changed.append(slot)
    QuizSlot.objects.bulk_update(changed, ["position"])
    forget_slots(quiz)
    return [slots[i] for i in order]


# --- Authoring: the question bank --------------------------------------------------

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
        item = {"id": raw.get("id"), "text": str(raw.get("text", "")).strip(), "fraction": fraction,
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
        fields["default_points"] = _positive_points(fields["default_points"], what="Default points")
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
def question_create(*, course: Course, by: User | None, answers: list[dict] = (), **fields) -> Question:
    """A new bank question. answers: dicts with text, fraction (-1..1), feedback, value, tolerance."""
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
    from .selectors import affected_attempts

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
    after = calc.key_summary(key_of(question))
    key_change = None
    if before != after:
        question.key_version += 1
        question.save(update_fields=["key_version"])
        if affected:
            key_change = KeyChange.objects.create(question=question, changed_by=by, before=before, after=after)
    return QuestionUpdate(question=question, key_change=key_change, affected_attempts=affected if key_change else 0)


def _parsed_fields(parsed: gift.ParsedQuestion) -> tuple[dict, list[dict]]:
    fields = {
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
        fields, answers = _parsed_fields(item)
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
    fields, answers = _parsed_fields(parsed[0])
    fields["category"] = fields["category"] or question.category
    fields.update(extra)
    existing = list(question.answers.all())
    for item, answer in zip(answers, existing, strict=False):
        item["id"] = answer.id
    return question_update(question=question, by=by, answers=answers, **fields)


# --- Taking ------------------------------------------------------------------------


class AnswerRefused(Exception):
    """A taking-path refusal a student can understand. `status` is the HTTP status to answer with."""

    def __init__(self, message: str, *, code: str, status: int = 409):
        super().__init__(message)
        self.message, self.code, self.status = message, code, status


def _deadline_message(deadline: dt.datetime) -> str:
    local = timezone.localtime(deadline)
    return (f"Time is up: this attempt's deadline was {local:%H:%M:%S} on {local:%d %b %Y}; "
            "answers sent after it are not accepted.")


@transaction.atomic
def attempt_start(*, quiz: Quiz, student: User, now: dt.datetime | None = None) -> tuple[Attempt, bool]:
    """Start an attempt, or return the student's open one (two tabs pressing Start get one attempt).

    Refuses (AnswerRefused) before the quiz opens, after it closes, on an
    unpublished quiz, and when no attempt is left. An open attempt already past
    its deadline is submitted first (as the periodic task would).
    Returns (attempt, created).
    """
    now = now or timezone.now()
    if not quiz.published:
        raise AnswerRefused("This quiz is not open to students yet.", code="not_published", status=403)
    mine = list(Attempt.objects.filter(quiz=quiz, student=student))  # one query for the open one and the count
    existing = next((a for a in mine if a.state == AttemptState.IN_PROGRESS), None)
    if existing is not None:
        if now <= existing.accept_until:
            existing.quiz = quiz
            return existing, False
        attempt_submit(attempt_id=existing.id, by=None, auto=True, now=now)
    if now < quiz.opens_at:
        local = timezone.localtime(quiz.opens_at)
        raise AnswerRefused(f"This quiz opens at {local:%H:%M} on {local:%d %b %Y}; come back then.",
                            code="not_open", status=403)
    if now >= quiz.closes_at:
        local = timezone.localtime(quiz.closes_at)
        raise AnswerRefused(f"This quiz closed at {local:%H:%M} on {local:%d %b %Y}; no new attempts.",
                            code="closed", status=403)
    done = len(mine)
    if quiz.max_attempts and done >= quiz.max_attempts:
        raise AnswerRefused(
            f"You have used all {quiz.max_attempts} attempt(s) allowed on this quiz.", code="no_attempts_left",
            status=403,
        )
    slots = slots_of(quiz)
    if not slots:
        raise AnswerRefused("This quiz has no questions yet.", code="empty", status=403)
    layout = calc.build_layout(
        slots=[layout_slot(s) for s in slots], shuffle_questions=quiz.shuffle_questions,
        shuffle_choices=quiz.shuffle_choices, seed=secrets.token_hex(8),
    )
    deadline = calc.attempt_deadline(started_at=now, time_limit=quiz.time_limit, closes_at=quiz.closes_at)
    attempt = Attempt(
        quiz=quiz, student=student, number=done + 1, state=AttemptState.IN_PROGRESS, started_at=now,
        deadline=deadline, accept_until=calc.accept_until(deadline=deadline, grace_seconds=quiz.grace_seconds),
        layout=layout, max_score=sum((s.points for s in slots), Decimal("0")),
    )
    try:
        with transaction.atomic():
            attempt.save()
    except IntegrityError:  # another tab started it a moment ago
        existing = Attempt.objects.filter(quiz=quiz, student=student, state=AttemptState.IN_PROGRESS).first()
        if existing is None:
            raise
        return existing, False
    return attempt, True


@dataclass(frozen=True)
class SaveResult:
    """What the server holds for the answer after a save, acknowledged after commit.

    version: the server's version of the stored answer (the next save names it as
    its base); seq: the stored script sequence number; stale: a script's save
    carried an older or equal seq than the stored one and changed nothing.
    """

    slot: int
    seq: int
    saved_at: dt.datetime
    stale: bool
    version: int = 0

    def as_json(self) -> dict:
        """The body of the save's 200 answer (the same from the fast path and from the DRF view)."""
        return {"slot": self.slot, "version": self.version, "seq": self.seq, "saved_at": self.saved_at.isoformat(),
                "stale": self.stale}


class AnswerConflict(AnswerRefused):
    """A save based on an older version than the one stored, with a different value: another device saved between.

    Carries what the server holds so the page can offer "keep this one / keep mine".
    """

    def __init__(self, *, slot: int, value, version: int, saved_at: dt.datetime):
        local = timezone.localtime(saved_at)
        super().__init__(
            f"This answer was changed on another device at {local:%H:%M:%S}; keep that one, or send yours again "
            f"with base {version} to keep yours.", code="conflict", status=409,
        )
        self.slot, self.value, self.version, self.saved_at = slot, value, version, saved_at

    def as_json(self) -> dict:
        return {"detail": self.message, "code": self.code, "slot": self.slot, "value": self.value,
                "version": self.version, "saved_at": self.saved_at.isoformat()}


@dataclass(frozen=True)
class _AttemptFacts:
    """What never changes about an attempt once started: whose it is, where, and its questions."""

    student_id: int
    course_id: int
    course_code: str
    slots: dict[int, dict]
    started_at: dt.datetime  # with the id, identifies the row even if a test database reuses ids


_FACTS: dict[int, _AttemptFacts] = {}
_FACTS_MAX = 20000


def _attempt_facts(attempt_id: int) -> _AttemptFacts | None:
    """Per-process cache of immutable attempt facts (state, deadline and seq are always read from the database)."""
    facts = _FACTS.get(attempt_id)
    if facts is None:
        row = Attempt.objects.filter(pk=attempt_id).values_list(
            "student_id", "quiz__course_id", "quiz__course__code", "layout", "started_at").first()
        if row is None:
            return None
        if len(_FACTS) >= _FACTS_MAX:
            _FACTS.clear()
        facts = _FACTS[attempt_id] = _AttemptFacts(
            student_id=row[0], course_id=row[1], course_code=row[2], slots={e["slot"]: e for e in row[3]},
            started_at=row[4],
        )
    return facts


def _upsert_sql(*, by_token: bool) -> str:
    """One statement: check who asks and that the attempt still takes answers, lock it, upsert the answer.

    The attempt must be the asker's (by_token: the user owning the live (not
    revoked) API token whose SHA-256 digest is passed, who must be active; else
    the student id passed), its student still
    an active member of the course, in progress and not past deadline + grace.
    The attempt row is locked (FOR NO KEY UPDATE) so a concurrent submit waits for
    this save to commit, or this save sees the submitted state and inserts nothing.
    The update only happens when the save's base is the stored version (a
    browser's save), or, for a save without a base (a script's), when its
    sequence number is higher than the stored one; each update adds 1 to the
    version. RETURNING gives no row when nothing was written. On PostgreSQL a
    token save also notes the token's last use (at most once a minute), in the statement.
    Parameters: course id, attempt id, started_at, token digest or student id, now,
    then slot, value (JSON text), seq, now, needs_manual, base, base (None: seq rules).
    """
    postgres = connection.vendor == "postgresql"
    lock = "FOR NO KEY UPDATE OF a" if postgres else ""
    json_value, stamp = ("%s::jsonb", "%s::timestamptz") if postgres else ("%s", "%s")
    greatest = "GREATEST" if postgres else "MAX"
    if by_token:
        who = (f"JOIN {ApiToken._meta.db_table} t ON t.user_id = a.student_id "
               f"JOIN {User._meta.db_table} u ON u.id = a.student_id")
        asker = "t.digest = %s AND t.revoked_at IS NULL AND u.is_active"
    else:
        who, asker = "", "a.student_id = %s"
    touch = ""
    if by_token and postgres:
        # The token's last use, to the minute, in this same statement (a data-modifying CTE runs
        # whether or not it is referenced). Only ever PREPAREd, so $4 (the digest) and $5 (now) are
        # the parameters above; it writes the row at most once a minute. SQLite has no such CTE:
        # there (development and tests) the fast path leaves last_used_at to the other API calls.
        touch = f"""
, touch AS (
    UPDATE {ApiToken._meta.db_table} SET last_used_at = $5
     WHERE digest = $4 AND revoked_at IS NULL
       AND (last_used_at IS NULL OR last_used_at <= $5 - interval '1 minute')
)"""
    return f"""
WITH live AS (
    SELECT a.id FROM quizzes_attempt a
      JOIN {Membership._meta.db_table} m ON m.user_id = a.student_id AND m.course_id = %s AND m.is_active
      {who}
     WHERE a.id = %s AND a.started_at = {stamp} AND {asker}
       AND a.state = 'in_progress' AND a.accept_until >= {stamp}
     {lock}
){touch}
INSERT INTO quizzes_response (attempt_id, slot_id, value, client_seq, version, saved_at, needs_manual, comment)
SELECT live.id, %s, {json_value}, %s, 1, {stamp}, %s, '' FROM live WHERE true
ON CONFLICT (attempt_id, slot_id) DO UPDATE
   SET value = excluded.value, client_seq = {greatest}(quizzes_response.client_seq, excluded.client_seq),
       version = quizzes_response.version + 1, saved_at = excluded.saved_at
 WHERE CASE WHEN %s IS NULL THEN quizzes_response.client_seq < excluded.client_seq
            ELSE quizzes_response.version = %s END
RETURNING version, client_seq
"""


_UPSERT_SQL: dict[tuple[str, bool], str] = {}
# PostgreSQL parameter types of _upsert_sql's placeholders, in order (the asker is a token key or a student id).
_UPSERT_TYPES = ("bigint", "bigint", "timestamptz", "{asker}", "timestamptz", "bigint", "jsonb", "bigint",
                 "timestamptz", "boolean", "bigint", "bigint")


def _prepared_upsert(cursor, *, by_token: bool) -> str:
    """The name of the upsert as a prepared statement on this PostgreSQL connection, preparing it once.

    Planning the statement costs the database several times what running it
    does, and the save path runs it thousands of times a minute at the end of a
    quiz. A prepared statement lives as long as the connection (a rollback does
    not remove it), so the mark is kept per raw connection: a reconnect prepares again.
    """
    name = "quizzes_answer_save_token" if by_token else "quizzes_answer_save_student"
    raw = connection.connection
    mark = getattr(connection, "_quizzes_prepared", None)
    if mark is None or mark[0] is not raw:
        mark = (raw, set())
        connection._quizzes_prepared = mark
    if name not in mark[1]:
        sql = _upsert_sql(by_token=by_token)
        parts = sql.split("%s")
        numbered = parts[0] + "".join(f"${n}{part}" for n, part in enumerate(parts[1:], start=1))
        types = ", ".join(_UPSERT_TYPES).format(asker="text" if by_token else "bigint")
        cursor.execute(f"PREPARE {name} ({types}) AS {numbered}")
        mark[1].add(name)
    return name


def _upsert(*, facts: _AttemptFacts, attempt_id: int, asker: int | str, by_token: bool, slot_id: int, value,
            seq: int, base: int | None, now: dt.datetime) -> tuple[int, int] | None:
    """Run the upsert statement (in autocommit it is its own transaction).

    Returns the stored (version, seq), or None if nothing was written.

    On a persistent PostgreSQL connection outside a transaction, Django would
    first spend a round trip checking that the connection is alive
    (CONN_HEALTH_CHECKS: SELECT 1 before the first query of each request). This
    statement is safe to repeat (a repeat of a save that did commit writes
    nothing, and the caller then reports it stale with the same seq, which the
    client counts as saved), so it runs at once and, only if the connection
    turns out dead, reconnects and runs once more.
    """
    stamp = connection.ops.adapt_datetimefield_value(now)
    params = [facts.course_id, attempt_id, connection.ops.adapt_datetimefield_value(facts.started_at), asker, stamp,
              slot_id, json.dumps(value), seq, stamp, False, base, base]
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return _execute_upsert(params, by_token=by_token)
    connection.health_check_done = True
    try:
        return _execute_upsert(params, by_token=by_token)
    except (InterfaceError, OperationalError):
        if connection.connection is not None and connection.is_usable():
            raise  # the connection is fine: a real error
        connection.close()
        return _execute_upsert(params, by_token=by_token)


_EXECUTE = "EXECUTE {name} (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def _execute_upsert(params: list, *, by_token: bool) -> tuple[int, int] | None:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(_EXECUTE.format(name=_prepared_upsert(cursor, by_token=by_token)), params)
        else:
            key = (connection.vendor, by_token)
            sql = _UPSERT_SQL.get(key) or _UPSERT_SQL.setdefault(key, _upsert_sql(by_token=by_token))
            cursor.execute(sql, params)
        stored = cursor.fetchone()
    return None if stored is None else (stored[0], stored[1])


def _check_seq(seq) -> None:
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 1 or seq >= 2**62:
        raise AnswerRefused("Send a positive whole sequence number (seq) with each answer.", code="bad_seq",
                            status=400)


def _check_base(base) -> None:
    if isinstance(base, bool) or not isinstance(base, int) or base < 0 or base >= 2**31:
        raise AnswerRefused("Send base as the whole-number version of the answer your edit replaces "
                            "(0 when nothing was saved yet; the version comes with the page and each save).",
                            code="bad_base", status=400)


def answer_save_by_token(
    *, token: str, attempt_id: int, course_code: str, slot_id: int, value, seq=None, base=None,
    now: dt.datetime | None = None,
) -> SaveResult | None:
    """The hot path for API clients: authenticate by token and save, in one SQL statement.

    The same rules as answer_save (the token's user must be active and own the
    attempt, still be an active member of the course; the attempt in progress
    and within deadline + grace; the value valid for the question; the base the
    stored version, or without a base the seq above the stored one), checked by
    the database in the statement that writes. It commits before returning
    (autocommit; a caller inside a transaction gets the caller's transaction, as
    with answer_save), so a returned result is durable.

    Returns None when it wrote nothing for any reason (unknown token, another
    student's attempt, refused value, stale seq, conflict, past the deadline …):
    it never explains; the caller then authenticates the ordinary way and calls
    answer_save, which refuses with the reason or reports the stale seq or conflict.
    """
    if base is not None:
        if isinstance(base, bool) or not isinstance(base, int) or not 0 <= base < 2**31:
            return None
        seq = 0
    elif isinstance(seq, bool) or not isinstance(seq, int) or not 1 <= seq < 2**62:
        return None
    facts = _attempt_facts(attempt_id)
    if facts is None or facts.course_code != course_code or slot_id not in facts.slots:
        return None
    if calc.validate_value(facts.slots[slot_id], value):
        return None
    now = now or timezone.now()
    stored = _upsert(facts=facts, attempt_id=attempt_id, asker=key_digest(token), by_token=True, slot_id=slot_id,
                     value=value, seq=seq, base=base, now=now)
    if stored is None:
        return None
    return SaveResult(slot=slot_id, version=stored[0], seq=stored[1], saved_at=now, stale=False)


def answer_save(
    *, attempt_id: int, student: User, course_code: str, slot_id: int, value, seq=None, base=None,
    now: dt.datetime | None = None, _retry: bool = False,
) -> SaveResult:
    """Save one answer: an idempotent upsert keyed by (attempt, slot), guarded by the server's version.

    base: the version of the answer this edit replaces (0: none was saved), as
    the page or the last save told the client. The save is applied only if base
    is still the stored version; then the version rises by 1. If another device
    saved in between, a different value is refused with AnswerConflict (409,
    carrying the stored value, version and time); the same value is acknowledged
    (a retry of a save whose answer was lost). Ordering never depends on a clock.

    seq (scripts, when base is None): a rising number chosen by the client; a save
    whose seq is not above the stored one changes nothing and is answered stale.

    The hot path of a quiz: one SQL statement (after the first save of an attempt
    in this process, which also reads the attempt's question layout). It commits
    before this function returns, so an acknowledged answer is durable.
    Raises AnswerRefused (404 no such attempt of this student; 403 no longer a
    member of the course; 409 submitted, past the deadline + grace, or a
    conflict; 400 bad value, base or sequence number).
    """
    if base is not None:
        _check_base(base)
        seq = 0
    else:
        _check_seq(seq)
    now = now or timezone.now()
    for fresh in (False, True):  # a refusal based on cached facts is checked once more against the database
        if fresh:
            _FACTS.pop(attempt_id, None)
        facts = _attempt_facts(attempt_id)
        if facts is None or facts.student_id != student.id or facts.course_code != course_code:
            refusal = AnswerRefused("No such attempt.", code="not_found", status=404)
        elif slot_id not in facts.slots:
            refusal = AnswerRefused("That question is not part of this attempt.", code="bad_slot", status=400)
        else:
            problem = calc.validate_value(facts.slots[slot_id], value)
            refusal = AnswerRefused(problem, code="bad_value", status=400) if problem else None
        if refusal is None:
            break
    if refusal is not None:
        raise refusal
    stored = _upsert(facts=facts, attempt_id=attempt_id, asker=student.id, by_token=False, slot_id=slot_id,
                     value=value, seq=seq, base=base, now=now)
    if stored is not None:
        return SaveResult(slot=slot_id, version=stored[0], seq=stored[1], saved_at=now, stale=False)
    # Nothing written: the attempt no longer takes answers, its student left the course, or another save won.
    row = Attempt.objects.filter(pk=attempt_id).values_list("state", "deadline", "accept_until", "started_at").first()
    if row is None or row[3] != facts.started_at:  # the cached facts were of another row with this id
        _FACTS.pop(attempt_id, None)
        if row is None or _retry:
            raise AnswerRefused("No such attempt.", code="not_found", status=404)
        return answer_save(attempt_id=attempt_id, student=student, course_code=course_code, slot_id=slot_id,
                           value=value, seq=seq, base=base, now=now, _retry=True)
    state, deadline, accept_until, _ = row
    if state != AttemptState.IN_PROGRESS:
        raise AnswerRefused("This attempt has been submitted; answers can no longer change.", code="submitted")
    if accept_until < now:
        raise AnswerRefused(_deadline_message(deadline), code="deadline_passed")
    if not Membership.objects.filter(course_id=facts.course_id, user_id=student.id, is_active=True).exists():
        raise AnswerRefused("You are no longer a member of this course, so answers are not accepted; "
                            "ask the instructor.", code="not_member", status=403)
    held = Response.objects.filter(attempt_id=attempt_id, slot_id=slot_id).values_list(
        "value", "version", "client_seq", "saved_at").get()
    if base is None:
        return SaveResult(slot=slot_id, version=held[1], seq=held[2], saved_at=now, stale=True)
    if held[0] == value:  # a retry of a save whose answer got lost, or both devices chose the same
        return SaveResult(slot=slot_id, version=held[1], seq=held[2], saved_at=held[3], stale=False)
    raise AnswerConflict(slot=slot_id, value=held[0], version=held[1], saved_at=held[3])


def _grade_responses(attempt: Attempt, *, now: dt.datetime) -> None:
    """Grade every answer of `attempt` (locked by the caller) and set its state and score."""
    slots = slots_of(attempt.quiz)
    by_slot = {s.id: s for s in slots}
    responses = {r.slot_id: r for r in Response.objects.filter(attempt=attempt)}
    missing = [
        Response(attempt=attempt, slot_id=s.id, value=None, client_seq=0, saved_at=now)
        for s in slots if s.id not in responses and any(e["slot"] == s.id for e in attempt.layout)
    ]
    if missing:
        Response.objects.bulk_create(missing)
        responses.update({r.slot_id: r for r in Response.objects.filter(attempt=attempt, slot_id__in=[m.slot_id for m in missing])})
    for response in responses.values():
        slot = by_slot.get(response.slot_id)
        if slot is None:
            continue
        outcome = calc.grade_answer(key_of(slot.question), response.value)
        if response.graded_by_id is not None:
            continue  # a person graded it; keep their points
        response.fraction = outcome.fraction
        response.points = calc.points_for(outcome.fraction, slot.points)
        response.needs_manual = outcome.needs_manual
    Response.objects.bulk_update(list(responses.values()), ["fraction", "points", "needs_manual"])
    _finish(attempt, responses.values())


def _finish(attempt: Attempt, responses: Iterable[Response]) -> None:
    responses = list(responses)
    pending = any(r.needs_manual and r.graded_at is None for r in responses)
    attempt.state = AttemptState.NEEDS_GRADING if pending else AttemptState.GRADED
    attempt.score = None if pending else calc.attempt_score(r.points for r in responses)
    attempt.save(update_fields=["state", "score", "submitted_at", "auto_submitted"])


TIMER_SLACK = dt.timedelta(seconds=10)


@transaction.atomic
def attempt_submit(
    *, attempt_id: int, by: User | None, auto: bool = False, timer_ran_out: bool = False,
    now: dt.datetime | None = None,
) -> tuple[Attempt, bool]:
    """Submit an attempt and grade it; a second submit (another tab, a retry, the task) changes nothing.

    The attempt row is locked; only an attempt still in progress is submitted.
    submitted_at is the earlier of now and the deadline (the grace period absorbs
    latency, it does not make a submission late). The attempt is marked
    auto-submitted when the task or a later start submits it (auto), when the
    submit arrives at or after the deadline, or when the page says its timer ran
    out (timer_ran_out) within TIMER_SLACK of the deadline (a page's clock is
    only as good as its estimate of the server's). Objective answers are graded
    now; essays and questions marked for review wait for a grader and the score
    stays None until then. A completed attempt posts the quiz grade.
    Returns (attempt, changed).
    """
    now = now or timezone.now()
    attempt = Attempt.objects.select_for_update(of=("self",)).select_related("quiz", "student").get(pk=attempt_id)
    if attempt.state != AttemptState.IN_PROGRESS:
        return attempt, False
    attempt.submitted_at = min(now, attempt.deadline)
    attempt.auto_submitted = (
        auto or now >= attempt.deadline or (timer_ran_out and now >= attempt.deadline - TIMER_SLACK)
    )
    _grade_responses(attempt, now=now)
    if attempt.state == AttemptState.GRADED:
        quiz_grade_post(quiz=attempt.quiz, student=attempt.student, by=by)
    return attempt, True


def expired_attempt_ids(*, now: dt.datetime) -> list[int]:
    """Open attempts whose deadline plus grace has passed (one query)."""
    return list(
        Attempt.objects.filter(state=AttemptState.IN_PROGRESS, accept_until__lt=now).values_list("id", flat=True)
    )


def autosubmit_expired(*, now: dt.datetime | None = None) -> int:
    """Submit every open attempt past its deadline, grading what was saved. Returns how many it submitted.

    Each attempt in its own transaction, so one failure does not hold back the rest.
    """
    now = now or timezone.now()
    submitted = 0
    for attempt_id in expired_attempt_ids(now=now):
        _, changed = attempt_submit(attempt_id=attempt_id, by=None, auto=True, now=now)
        submitted += changed
    return submitted


# --- Grading -----------------------------------------------------------------------


def quiz_grade_post(*, quiz: Quiz, student: User, by: User | None = None, reason: str = "") -> None:
    """Post the student's quiz grade (grading method over graded attempts) to the gradebook.

    Runs in the caller's transaction; does nothing while no attempt is graded.
    """
    from grading.services import grade_post

    if quiz.grade_item_id is None:
        return
    finished = [
        calc.FinishedAttempt(number=a.number, score=a.score, submitted_at=a.submitted_at)
        for a in Attempt.objects.filter(quiz=quiz, student=student, state=AttemptState.GRADED)
    ]
    combined = calc.combine_attempts(quiz.grading_method, finished)
    if combined is None:
        return
    score, submitted_at = combined
    item = GradeItem.objects.get(pk=quiz.grade_item_id)
    grade_post(item=item, student=student, raw_points=score, submitted_at=submitted_at, source=GRADE_SOURCE,
               by=by, reason=reason)


@transaction.atomic
def response_grade(*, response: Response, by: User, points, comment: str = "") -> Response:
    """A grader's points (0..the slot's points) and comment on one answer in the manual queue.

    When it was the attempt's last ungraded answer, the attempt is scored and the
    quiz grade posted. Grading again replaces the points (and reposts).
    """
    response = Response.objects.select_related("slot", "attempt").get(pk=response.pk)
    attempt = Attempt.objects.select_for_update(of=("self",)).select_related("quiz", "student").get(pk=response.attempt_id)
    if attempt.state == AttemptState.IN_PROGRESS:
        raise ValidationError("This attempt has not been submitted yet; grade it after the student submits.")
    if not response.needs_manual:
        raise ValidationError("This answer was graded automatically; change the answer key and regrade instead.")
    try:
        value = parse_points(points)  # the site's points parser: 1.5 or 1,5, two decimals at most, not NaN
    except PointsError as exc:
        raise ValidationError(str(exc)) from None
    if value > response.slot.points:
        raise ValidationError(f"Enter points between 0 and {response.slot.points} for this question.")
    response.points = value
    response.fraction = value / response.slot.points
    response.comment = comment
    response.graded_by = by
    response.graded_at = timezone.now()
    response.save(update_fields=["points", "fraction", "comment", "graded_by", "graded_at"])
    _finish(attempt, Response.objects.filter(attempt=attempt))
    if attempt.state == AttemptState.GRADED:
        quiz_grade_post(quiz=attempt.quiz, student=attempt.student, by=by, reason="manual grading of a quiz answer")
    response.attempt = attempt
    return response


@dataclass
class RegradeSummary:
    key_change: KeyChange
    attempts: int
    changed: int


@transaction.atomic
def regrade(*, key_change: KeyChange, by: User | None) -> RegradeSummary:
    """Regrade every finished attempt that answered the changed question, and repost their grades.

    Answers a person graded keep their points. Each attempt whose score moved
    gets a RegradeEntry (old → new) on the key change. Running it twice changes
    nothing the second time.
    """
    key_change = KeyChange.objects.select_for_update().select_related("question").get(pk=key_change.pk)
    question = Question.objects.prefetch_related("answers").get(pk=key_change.question_id)
    key = key_of(question)
    slots = {s.id: s for s in QuizSlot.objects.filter(question=question).select_related("quiz")}
    ids = set(Attempt.objects.filter(quiz__slots__question=question).exclude(state=AttemptState.IN_PROGRESS)
              .values_list("id", flat=True))
    attempts = list(
        Attempt.objects.select_for_update(of=("self",)).filter(id__in=ids)
        .exclude(state=AttemptState.IN_PROGRESS).select_related("quiz", "student").order_by("id")
    )
    changed = 0
    for attempt in attempts:
        responses = list(Response.objects.filter(attempt=attempt))
        old_score = attempt.score
        touched = []
        for response in responses:
            slot = slots.get(response.slot_id)
            if slot is None or response.graded_by_id is not None:
                continue
            outcome = calc.grade_answer(key, response.value)
            response.fraction = outcome.fraction
            response.points = calc.points_for(outcome.fraction, slot.points)
            response.needs_manual = outcome.needs_manual
            touched.append(response)
        Response.objects.bulk_update(touched, ["fraction", "points", "needs_manual"])
        _finish(attempt, responses)
        if attempt.score != old_score:
            changed += 1
            RegradeEntry.objects.create(key_change=key_change, attempt=attempt, old_score=old_score,
                                        new_score=attempt.score)
        quiz_grade_post(quiz=attempt.quiz, student=attempt.student, by=by,
                        reason=f"regrade after the answer key of “{question.title}” changed")
    key_change.regraded_at = timezone.now()
    key_change.regraded_by = by
    key_change.save(update_fields=["regraded_at", "regraded_by"])
    return RegradeSummary(key_change=key_change, attempts=len(attempts), changed=changed)
