"""Reads for quizzes: keys for grading, attempt payloads, queues, statistics rows.

Each selector issues a fixed number of queries (never one per student or per
question). Payload builders decide what a student may see from the review
policy (calculations.review_parts), so no view has to remember it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from courseapp.models import Course, User

from . import calculations as calc
from . import review, rich_text
from .gift import ParsedAnswer, ParsedQuestion
from .models import REVIEW_PARTS, Answer, Attempt, AttemptState, Question, Quiz, QuizSlot, Response


def key_of(question: Question) -> calc.Key:
    """The grading key of a question whose answers are prefetched (or fetched here)."""
    return calc.Key(
        qtype=question.qtype,
        answers=tuple(
            calc.KeyAnswer(id=a.id, text=a.text, fraction=a.fraction, feedback=a.feedback, value=a.value,
                           tolerance=a.tolerance, match=a.match)
            for a in question.answers.all()
        ),
        correct_bool=question.correct_bool,
        case_sensitive=question.case_sensitive,
        use_regex=question.use_regex,
        manual_review=question.manual_review,
        true_feedback=question.true_feedback,
        false_feedback=question.false_feedback,
    )


# Per process: the slots of a quiz with their questions and answers, keyed by what identifies that content:
# the quiz row (id and creation time: a test database reuses ids) and its layout_version, which every service
# that changes a quiz's questions, their order, points, texts or keys raises in the same transaction
# (services.authoring.layout_changed). A start or submit then reads no slot, question or answer row at all.
# The cached objects are shared between requests and threads: read them, never change them.
_LAYOUTS: dict[tuple, list[QuizSlot]] = {}
_LAYOUTS_MAX = 256


def slots_of(quiz: Quiz) -> list[QuizSlot]:
    """The quiz's slots in order with their questions and answers (read-only objects).

    3 queries the first time a process sees this version of the quiz's layout, none after:
    the quiz row the caller loaded carries layout_version, and the cache is keyed by it.
    """
    cached = getattr(quiz, "_slots_cache", None)
    if cached is None:
        key = (quiz.pk, quiz.created_at, quiz.layout_version)
        cached = _LAYOUTS.get(key)
        if cached is None:
            cached = list(
                QuizSlot.objects.filter(quiz=quiz).select_related("question").prefetch_related("question__answers")
            )
            if len(_LAYOUTS) >= _LAYOUTS_MAX:
                _LAYOUTS.clear()
            _LAYOUTS[key] = cached
        setattr(quiz, "_slots_cache", cached)  # noqa: B010 (a per-instance cache, not a model field)
    return list(cached)


def forget_slots(quiz: Quiz) -> None:
    """Drop the slots slots_of kept on this instance (the process cache is keyed by layout_version)."""
    quiz.__dict__.pop("_slots_cache", None)


def layout_slot(slot: QuizSlot) -> tuple:
    """What calculations.build_layout needs of a slot (question and answers loaded)."""
    answers = list(slot.question.answers.all())
    if slot.question.qtype == calc.MATCHING:
        return (slot.id, slot.question.qtype, [a.id for a in answers if a.text], [a.match for a in answers])
    return (slot.id, slot.question.qtype, [a.id for a in answers])


def with_questions(slots: list[QuizSlot]) -> list[QuizSlot]:
    """The same slots, in the same order, with their questions loaded (1 query)."""
    questions = Question.objects.in_bulk([s.question_id for s in slots])
    for slot in slots:
        slot.question = questions[slot.question_id]
    return slots


def quizzes_for(*, course: Course, staff: bool) -> QuerySet[Quiz]:
    """The course's quizzes; students see only published ones."""
    qs = Quiz.objects.filter(course=course).select_related("lecture").annotate(
        n_questions=Count("slots", distinct=True)
    )
    return qs if staff else qs.filter(published=True)


def attempts_of(*, quiz: Quiz, student: User) -> list[Attempt]:
    return list(Attempt.objects.filter(quiz=quiz, student=student).order_by("number"))


def open_attempt(*, quiz: Quiz, student: User) -> Attempt | None:
    return Attempt.objects.filter(quiz=quiz, student=student, state=AttemptState.IN_PROGRESS).first()


def _choice_payload(answer: Answer, *, text_format: str, show_key: bool, show_feedback: bool) -> dict:
    item = {"id": answer.id, "text": answer.text, "text_html": rich_text.render_inline(answer.text, text_format)}
    if show_key:
        item["fraction"] = calc.plain_decimal(answer.fraction)
        item["right"] = answer.fraction > 0
    if show_feedback and answer.feedback:
        item["feedback"] = answer.feedback
    return item


def _correct_answer(question: Question, answers: list[Answer]) -> object:
    """The right answer in the shape a student would send it."""
    if question.qtype == calc.SINGLE:
        best = max(answers, key=lambda a: a.fraction, default=None)
        return best.id if best else None
    if question.qtype == calc.MULTI:
        return [a.id for a in answers if a.fraction > 0]
    if question.qtype == calc.TRUEFALSE:
        return question.correct_bool
    if question.qtype == calc.NUMERIC:
        return [{"value": calc.plain_decimal(a.value), "tolerance": calc.plain_decimal(a.tolerance)}
                for a in answers if a.fraction == 1 and a.value is not None]
    if question.qtype == calc.SHORT:
        return [a.text for a in answers if a.fraction == 1]
    if question.qtype == calc.MATCHING:
        return {str(a.id): a.match for a in answers if a.text}
    return None


def _questions_payload(
    *, layout: list[dict], slots: dict[int, QuizSlot], responses: dict[int, Response], finished: bool,
    show_answers: bool, show_key: bool, show_feedback: bool, show_score: bool,
    during: frozenset[str] = frozenset(),
) -> list[dict]:
    """The questions of one attempt (stored, or a preview's in memory) in its layout's order, as far as allowed.

    during: while the attempt is open, what the quiz's review_during shows of each question the
    student has checked (Moodle's immediate feedback); nothing of unchecked ones.
    """
    finished_attempt, all_key, all_feedback = finished, show_key, show_feedback
    questions = []
    for number, entry in enumerate(layout, start=1):
        slot = slots.get(entry["slot"])
        if slot is None:  # removed from the quiz after this attempt started
            continue
        question = slot.question
        answers = {a.id: a for a in question.answers.all()}
        key = key_of(question)
        item: dict = {
            "slot": slot.id, "number": number, "type": question.qtype, "text": question.text,
            "text_html": rich_text.render(question.text, question.text_format), "points": str(slot.points),
        }
        response = responses.get(slot.id)
        checked = not finished_attempt and response is not None and response.checked_at is not None
        # A checked question is shown as far as review_during allows, as if finished; the rest as the attempt is.
        finished = finished_attempt or (checked and bool(during))
        show_key = all_key or (checked and "correct" in during)
        show_feedback = all_feedback or (checked and "feedback" in during)
        question_score = (finished_attempt and show_score) or (checked and "score" in during)
        if checked:
            item["checked"] = True
        if question.qtype in calc.CHOICE_TYPES:
            item["choices"] = [
                _choice_payload(answers[cid], text_format=question.text_format, show_key=show_key,
                                show_feedback=show_feedback)
                for cid in entry["choices"] if cid in answers
            ]
            if finished and show_answers and response is not None:
                chosen = response.value if isinstance(response.value, list) else [response.value]
                for choice in item["choices"]:
                    if choice["id"] in chosen:
                        choice["chosen"] = True
        if question.qtype == calc.MATCHING:
            item["match_items"] = [{"id": cid, "text": answers[cid].text,
                              "text_html": rich_text.render_inline(answers[cid].text, question.text_format)}
                             for cid in entry["choices"] if cid in answers]
            item["options"] = list(entry.get("options", ()))
            if finished and (show_answers or show_key):  # per item: what was picked, and whether it was right
                picked = response.value if response is not None and isinstance(response.value, dict) else {}
                for row in item["match_items"]:
                    if show_answers:
                        row["chosen"] = picked.get(str(row["id"]), "")
                    if show_key:
                        row["match"] = answers[row["id"]].match
                        row["right"] = picked.get(str(row["id"])) == answers[row["id"]].match
        if show_answers:
            item["answer"] = response.value if response else None
            if finished:
                item["answer_text"] = review.answer_in_words(key, item["answer"])
            item["seq"] = response.client_seq if response else 0
            if not finished_attempt:
                item["version"] = response.version if response else 0
                item["saved_at"] = response.saved_at.isoformat() if response else None
        if question_score and response is not None:
            item["earned"] = None if response.points is None else str(response.points)
            if response.needs_manual and response.graded_at is None:
                item["awaiting_grader"] = True
            item["mark"] = review.mark(value=response.value, fraction=response.fraction,
                                       needs_manual=response.needs_manual, graded=response.graded_at is not None)
        elif question_score:
            item["earned"] = "0.00"
            item["mark"] = review.Mark.UNANSWERED
        if show_key:
            item["correct"] = _correct_answer(question, list(answers.values()))
            item["correct_text"] = review.correct_in_words(key)
        if show_feedback:
            outcome_feedback: list[str] = []
            if response is not None and question.qtype not in calc.CHOICE_TYPES:
                outcome_feedback = list(calc.grade_answer(key, response.value).feedback)
            if question.qtype == calc.SINGLE or question.qtype == calc.MULTI:
                held = response.value if response else None
                chosen_ids = set(held if isinstance(held, list) else [held])
                outcome_feedback = [answers[c].feedback for c in chosen_ids if c in answers and answers[c].feedback]
            item["feedback"] = outcome_feedback
            if question.general_feedback:
                item["general_feedback"] = question.general_feedback
                item["general_feedback_html"] = rich_text.render(question.general_feedback, question.text_format)
            if response is not None and response.comment:
                item["grader_comment"] = response.comment
        questions.append(item)
    return questions


def attempt_payload(*, attempt: Attempt, viewer_is_staff: bool, now: dt.datetime | None = None,
                    new: bool = False) -> dict:
    """What the viewer may see of one attempt, as JSON-ready data.

    While the attempt is open: questions in the attempt's order, choices in its
    order, and the student's own saved answers with their sequence numbers —
    never fractions, right answers or feedback. Once submitted, the student sees
    what the quiz's review policy allows now (score, answers, correct, feedback);
    staff see everything. Queries: attempt's quiz + slots + questions + answers + responses.
    """
    now = now or timezone.now()
    quiz = attempt.quiz
    finished = attempt.state != AttemptState.IN_PROGRESS
    during: frozenset[str] = frozenset()
    if viewer_is_staff:
        parts = frozenset(REVIEW_PARTS) if finished else frozenset({"answers"})
    else:
        during = frozenset() if finished else frozenset(quiz.review_during)
        parts = calc.review_parts(
            after_submit=quiz.review_after_submit, after_close=quiz.review_after_close,
            attempt_finished=finished, closes_at=quiz.closes_at, now=now,
        )
    show_answers = (not finished) or "answers" in parts
    show_key = "correct" in parts
    show_feedback = "feedback" in parts
    show_score = "score" in parts

    slots = {s.id: s for s in slots_of(quiz)}
    # new: an attempt created in this request has no answers yet (the start path skips the query).
    graded = getattr(attempt, "_graded_responses", None)  # attempt_submit's, just written
    if new:
        responses = {}
    elif graded is not None:
        responses = graded
    else:
        responses = {r.slot_id: r for r in Response.objects.filter(attempt=attempt)}
    questions = _questions_payload(
        layout=attempt.layout, slots=slots, responses=responses, finished=finished, show_answers=show_answers,
        show_key=show_key, show_feedback=show_feedback, show_score=show_score, during=during,
    )

    payload = {
        "id": attempt.id, "quiz": quiz.id, "quiz_title": quiz.title, "number": attempt.number,
        "state": attempt.state, "started_at": attempt.started_at.isoformat(),
        "deadline": attempt.deadline.isoformat(), "server_now": now.isoformat(),
        "submitted_at": attempt.submitted_at.isoformat() if attempt.submitted_at else None,
        "auto_submitted": attempt.auto_submitted,
        "review": sorted(parts),
        "review_during": sorted(during),
        "questions": questions,
    }
    if finished and show_score:
        payload["score"] = None if attempt.score is None else str(attempt.score)
        payload["max_score"] = str(attempt.max_score)
    if viewer_is_staff:
        payload["student"] = {"id": attempt.student_id, "name": str(attempt.student)}
    return payload


def preview_payload(*, quiz: Quiz, seed: str, answers: dict[int, object] | None = None) -> dict:
    """The quiz as a student would get a new attempt of it, built in memory for staff to try out.

    Nothing is stored: no attempt, no answers, no grade. seed fixes the
    shuffled order (the same seed gives the same layout). answers None: the
    questions to answer. answers {slot id: value, in the API's shapes}: those
    answers graded as a submission would be, with score, right answers and
    feedback shown; essays (and questions sent to review) count as waiting for a grader.
    """
    slots = {s.id: s for s in slots_of(quiz)}
    layout = calc.build_layout(
        slots=[layout_slot(s) for s in slots.values()],
        shuffle_questions=quiz.shuffle_questions, shuffle_choices=quiz.shuffle_choices, seed=seed,
    )
    checked = answers is not None
    responses: dict[int, Response] = {}
    given: dict[int, object] = answers or {}
    for slot in slots.values() if checked else ():
        value = given.get(slot.id)
        outcome = calc.grade_answer(key_of(slot.question), value)
        responses[slot.id] = Response(
            slot_id=slot.id, value=value, client_seq=0, fraction=outcome.fraction, needs_manual=outcome.needs_manual,
            points=None if outcome.needs_manual else calc.points_for(outcome.fraction, slot.points), comment="",
        )
    questions = _questions_payload(
        layout=layout, slots=slots, responses=responses, finished=checked, show_answers=checked,
        show_key=checked, show_feedback=checked, show_score=checked,
    )
    payload = {
        "preview": True, "quiz": quiz.id, "quiz_title": quiz.title, "seed": seed, "layout": layout,
        "review": sorted(REVIEW_PARTS) if checked else [], "questions": questions,
        "max_score": str(sum((s.points for s in slots.values()), Decimal("0"))),
    }
    if checked:
        payload["score"] = str(sum((r.points for r in responses.values() if r.points is not None), Decimal("0")))
        payload["waiting_for_grader"] = sum(1 for r in responses.values() if r.needs_manual)
    return payload


def attempt_summary(attempt: Attempt, *, parts: frozenset[str] | None) -> dict:
    """One line of an attempt list; the score only where `parts` allows it (None = staff)."""
    row = {
        "id": attempt.id, "number": attempt.number, "state": attempt.state,
        "started_at": attempt.started_at.isoformat(), "deadline": attempt.deadline.isoformat(),
        "submitted_at": attempt.submitted_at.isoformat() if attempt.submitted_at else None,
        "auto_submitted": attempt.auto_submitted,
    }
    if parts is None or "score" in parts:
        row["score"] = None if attempt.score is None else str(attempt.score)
        row["max_score"] = str(attempt.max_score)
    return row


def student_parts(*, quiz: Quiz, attempt: Attempt, now: dt.datetime) -> frozenset[str]:
    return calc.review_parts(
        after_submit=quiz.review_after_submit, after_close=quiz.review_after_close,
        attempt_finished=attempt.state != AttemptState.IN_PROGRESS, closes_at=quiz.closes_at, now=now,
    )


def quiz_results(*, quiz: Quiz) -> list[dict]:
    """Every attempt of the quiz with its student (staff view; 1 query)."""
    rows = []
    for attempt in Attempt.objects.filter(quiz=quiz).select_related("student").order_by(
        "student__last_name", "student__first_name", "number"
    ):
        row = attempt_summary(attempt, parts=None)
        row["student"] = {"id": attempt.student_id, "name": str(attempt.student),
                          "student_number": attempt.student.student_number}
        rows.append(row)
    return rows


def grading_queue(*, quiz: Quiz) -> list[dict]:
    """Per slot: how many answers wait for a grader and how many were graded by hand."""
    counts = {
        row["slot_id"]: row
        for row in Response.objects.filter(slot__quiz=quiz, needs_manual=True)
        .exclude(attempt__state=AttemptState.IN_PROGRESS)
        .values("slot_id")
        .annotate(pending=Count("id", filter=Q(graded_at__isnull=True)), graded=Count("id", filter=Q(graded_at__isnull=False)))
    }
    queue = []
    for slot in QuizSlot.objects.filter(quiz=quiz).select_related("question"):
        row = counts.get(slot.id)
        if row:
            queue.append({"slot": slot.id, "title": slot.question.title, "type": slot.question.qtype,
                          "pending": row["pending"], "graded": row["graded"]})
    return queue


def responses_to_grade(*, slot: QuizSlot) -> list[Response]:
    """The answers to one question across all submitted attempts that a person grades (1 query)."""
    return list(
        Response.objects.filter(slot=slot, needs_manual=True)
        .exclude(attempt__state=AttemptState.IN_PROGRESS)
        .select_related("attempt__student", "graded_by")
        .order_by("graded_at", "attempt__student__last_name", "attempt__student__first_name", "attempt__number")
    )


def statistics(*, quiz: Quiz) -> dict:
    """Score distribution and Moodle facility/discrimination per question, over first attempts.

    Only graded first attempts count (Moodle's default); an unanswered question scores 0.
    """
    slots = list(QuizSlot.objects.filter(quiz=quiz).select_related("question"))
    attempts = list(
        Attempt.objects.filter(quiz=quiz, number=1, state=AttemptState.GRADED).values("id", "score", "max_score")
    )
    points: dict[int, dict[int, Decimal]] = defaultdict(dict)
    for row in Response.objects.filter(attempt__in=[a["id"] for a in attempts]).values(
        "attempt_id", "slot_id", "points"
    ):
        points[row["attempt_id"]][row["slot_id"]] = row["points"] or Decimal("0")
    rows = [[float(points[a["id"]].get(s.id, Decimal("0"))) for s in slots] for a in attempts]
    stats = calc.question_statistics(slots=[(s.id, float(s.points)) for s in slots], rows=rows)
    percentages = [100 * float(a["score"]) / float(a["max_score"])
                   for a in attempts if a["max_score"] and a["score"] is not None]
    by_slot = {s.id: s for s in slots}
    mean = sum(percentages) / len(percentages) if percentages else None
    return {
        "attempts": len(attempts),
        "mean_percent": mean,
        "distribution": calc.score_distribution(percentages),
        "questions": [
            {"slot": st.slot, "title": by_slot[st.slot].question.title, "type": by_slot[st.slot].question.qtype,
             "max_points": st.max_points, "n": st.n, "mean": st.mean, "sd": st.sd,
             "facility": st.facility, "discrimination": st.discrimination}
            for st in stats
        ],
    }


def unlinked_quiz_item(*, course: Course, title: str):
    """The gradebook item named `title` that no quiz grades into yet, or None (a quiz may be told to use it)."""
    from grading.models import GradeItem

    return GradeItem.objects.filter(course=course, name=title, quiz__isnull=True).first()


def bank(*, course: Course) -> QuerySet[Question]:
    return (
        Question.objects.filter(course=course)
        .prefetch_related("answers")
        .annotate(n_quizzes=Count("slots", distinct=True))
    )


def as_parsed(question: Question) -> ParsedQuestion:
    """A bank question in the GIFT module's shape (answers prefetched)."""
    return ParsedQuestion(
        title=question.title, text=question.text, qtype=question.qtype, line=0, category=question.category,
        answers=[ParsedAnswer(text=a.text, fraction=a.fraction, feedback=a.feedback, value=a.value,
                              tolerance=a.tolerance, match=a.match) for a in question.answers.all()],
        correct_bool=question.correct_bool, true_feedback=question.true_feedback,
        false_feedback=question.false_feedback, general_feedback=question.general_feedback,
        text_format=question.text_format,
    )


def affected_attempts(*, question: Question) -> int:
    """Finished attempts that answered `question` (what a regrade would touch)."""
    return Attempt.objects.filter(quiz__slots__question=question).exclude(state=AttemptState.IN_PROGRESS).distinct().count()


def open_quizzes_for_student(*, course: Course, student: User, now: dt.datetime) -> list[dict]:
    """Published quizzes open at `now`, with time left and the student's own attempts (two queries).

    Each row: quiz, closes_at, time_left (a timedelta), attempts_used, attempts_left (None: unlimited),
    in_progress (the student has an attempt still open).
    """
    quizzes = list(Quiz.objects.filter(course=course, published=True, opens_at__lte=now, closes_at__gt=now)
                   .order_by("closes_at", "id"))
    mine: dict[int, list[Attempt]] = defaultdict(list)
    for attempt in Attempt.objects.filter(quiz__in=quizzes, student=student).only("id", "quiz_id", "state"):
        mine[attempt.quiz_id].append(attempt)
    rows = []
    for quiz in quizzes:
        used = len(mine[quiz.id])
        rows.append({
            "quiz": quiz, "closes_at": quiz.closes_at, "time_left": quiz.closes_at - now, "attempts_used": used,
            "attempts_left": None if quiz.max_attempts == 0 else max(quiz.max_attempts - used, 0),
            "in_progress": any(a.state == AttemptState.IN_PROGRESS for a in mine[quiz.id]),
        })
    return rows


def essays_waiting(*, course: Course) -> list[dict]:
    """Per quiz of the course: answers graded by hand that wait for a grader, in submitted attempts (one query).

    Rows: quiz_id, title, pending (answers), attempts (attempts they belong to); quizzes with none are left out.
    """
    rows = (
        Response.objects.filter(slot__quiz__course=course, needs_manual=True, graded_at__isnull=True)
        .exclude(attempt__state=AttemptState.IN_PROGRESS)
        .values("slot__quiz_id", "slot__quiz__title", "slot__quiz__closes_at")
        .annotate(pending=Count("id"), attempts=Count("attempt_id", distinct=True))
        .order_by("slot__quiz__closes_at", "slot__quiz_id")
    )
    return [{"quiz_id": r["slot__quiz_id"], "title": r["slot__quiz__title"], "pending": r["pending"],
             "attempts": r["attempts"]} for r in rows]
