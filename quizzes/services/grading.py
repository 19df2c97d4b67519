"""Writes for grading quizzes: score a submitted attempt, the manual queue, regrades, the gradebook post.

Staff of the course grade the manual queue (quizzes.access.can_grade); the
instructor regrades (can_author); `by=None` is the system (submit, the Celery task).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from courseapp.models import User
from courseapp.numbers import PointsError, parse_points

from .. import calculations as calc
from ..access import require_author, require_grader
from ..models import Attempt, AttemptState, KeyChange, Question, Quiz, QuizSlot, RegradeEntry, Response
from ..selectors import key_of, slots_of

GRADE_SOURCE = "quiz"


def grade_responses(attempt: Attempt, *, now: dt.datetime) -> dict[int, Response]:
    """Grade every answer of `attempt` (locked by the caller) and set its state and score.

    Returns the graded answers by slot id (for the payload, without reading them again).
    """
    slots = slots_of(attempt.quiz)
    by_slot = {s.id: s for s in slots}
    responses = {r.slot_id: r for r in Response.objects.filter(attempt=attempt)}
    missing = [
        Response(attempt=attempt, slot_id=s.id, value=None, client_seq=0, saved_at=now)
        for s in slots if s.id not in responses and any(e["slot"] == s.id for e in attempt.layout)
    ]
    if missing:
        created = Response.objects.bulk_create(missing)  # PostgreSQL and SQLite return the new ids
        if any(r.pk is None for r in created):
            created = list(Response.objects.filter(attempt=attempt, slot_id__in=[m.slot_id for m in missing]))
        responses.update({r.slot_id: r for r in created})
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
    _store_grades(list(responses.values()))
    _finish(attempt, responses.values())
    return responses


def _store_grades(responses: list[Response]) -> None:
    """Write fraction, points and needs_manual of `responses` in one UPDATE … FROM (VALUES …).

    What bulk_update does, without building a CASE expression per row and field
    (most of a submit's CPU went there).
    """
    if not responses:
        return
    table = Response._meta.db_table
    ops = connection.ops
    rows = ", ".join(["(%s, %s, %s, %s)"] * len(responses))
    params: list = []
    for r in responses:
        params += [r.pk, ops.adapt_decimalfield_value(r.fraction, 8, 7), ops.adapt_decimalfield_value(r.points, 8, 2),
                   r.needs_manual]
    if connection.vendor == "postgresql":
        values = f"(VALUES {rows}) AS v(id, fraction, points, needs_manual)"
        cast = "v.fraction::numeric, points = v.points::numeric, needs_manual = v.needs_manual::boolean"
        sql = (f"UPDATE {table} SET fraction = {cast} FROM {values} WHERE {table}.id = v.id::bigint")
    else:  # SQLite names VALUES columns column1 … column4
        sql = (f"UPDATE {table} SET fraction = v.column2, points = v.column3, needs_manual = v.column4 "
               f"FROM (VALUES {rows}) AS v WHERE {table}.id = v.column1")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def _finish(attempt: Attempt, responses: Iterable[Response]) -> None:
    responses = list(responses)
    pending = any(r.needs_manual and r.graded_at is None for r in responses)
    attempt.state = AttemptState.NEEDS_GRADING if pending else AttemptState.GRADED
    attempt.score = None if pending else calc.attempt_score(r.points for r in responses)
    attempt.save(update_fields=["state", "score", "submitted_at", "auto_submitted"])



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
        if a.score is not None and a.submitted_at is not None  # a graded attempt has both
    ]
    combined = calc.combine_attempts(quiz.grading_method, finished)
    if combined is None:
        return
    score, submitted_at = combined
    item = quiz.grade_item  # loaded with the quiz by attempt_submit (select_related), else one query
    assert item is not None
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
    require_grader(by, attempt.quiz.course)
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


def regrade_send(*, key_change: KeyChange, by: User | None) -> None:
    """Queue the regrade a key change offered (the quizzes.regrade task), once the caller's transaction commits.

    The regrade touches every finished attempt that answered the question and reposts
    their grades, which is too long for a request; the task runs regrade(), which is
    idempotent, so a duplicate delivery changes nothing.
    """
    require_author(by, key_change.question.course)
    from ..tasks import regrade as regrade_task

    key_change_id, by_id = key_change.pk, None if by is None else by.pk
    transaction.on_commit(lambda: regrade_task.delay(key_change_id, by_id))


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
    key_change = KeyChange.objects.select_for_update().select_related("question__course").get(pk=key_change.pk)
    require_author(by, key_change.question.course)
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
