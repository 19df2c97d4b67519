"""Writes for taking a quiz: start an attempt, submit it, submit the expired ones.

Saving an answer is in saves.py (the hot path); grading what was submitted in grading.py.
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from courseapp.models import User

from .. import calculations as calc
from ..access import can_submit, can_take
from ..models import Attempt, AttemptState, Quiz, Response
from ..selectors import key_of, layout_slot, slots_of
from .grading import grade_responses, quiz_grade_post
from .saves import AnswerRefused


@transaction.atomic
def attempt_start(*, quiz: Quiz, student: User, now: dt.datetime | None = None) -> tuple[Attempt, bool]:
    """Start an attempt, or return the student's open one (two tabs pressing Start get one attempt).

    Refuses (AnswerRefused) before the quiz opens, after it closes, on an
    unpublished quiz, and when no attempt is left. An open attempt already past
    its deadline is submitted first (as the periodic task would).
    Returns (attempt, created).
    """
    now = now or timezone.now()
    if not can_take(student, quiz.course):
        raise AnswerRefused("Staff preview quizzes from the quiz page; attempts are for students.",
                            code="staff", status=403)
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
        raise AnswerRefused(f"This quiz opens at {local:%Y-%m-%d %H:%M}; come back then.",
                            code="not_open", status=403)
    if now >= quiz.closes_at:
        local = timezone.localtime(quiz.closes_at)
        raise AnswerRefused(f"This quiz closed at {local:%Y-%m-%d %H:%M}; no new attempts.",
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
    attempt = (Attempt.objects.select_for_update(of=("self",))
               .select_related("quiz__course", "quiz__grade_item__category", "student").get(pk=attempt_id))
    if by is not None and not can_submit(by, attempt):
        raise AnswerRefused("Only the student who took an attempt submits it.", code="not_yours", status=403)
    if attempt.state != AttemptState.IN_PROGRESS:
        return attempt, False
    attempt.submitted_at = min(now, attempt.deadline)
    attempt.auto_submitted = (
        auto or now >= attempt.deadline or (timer_ran_out and now >= attempt.deadline - TIMER_SLACK)
    )
    graded = grade_responses(attempt, now=now)
    attempt._graded_responses = graded  # type: ignore[attr-defined]  # for the payload: not read twice
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



@transaction.atomic
def answer_check(*, attempt_id: int, slot_id: int, by: User, now: dt.datetime | None = None) -> Response:
    """The student checks one saved answer during the attempt (quizzes with review_during): it becomes final.

    Moodle's immediate feedback: the answer is graded now and, from then on, the
    taking page shows that question's parts of review_during (marks, right answer,
    feedback); saves to it are refused (the save rule's statement skips a checked
    answer). Checking again changes nothing. Refuses (AnswerRefused) when the quiz
    gives no feedback during the attempt, the attempt is not `by`'s, it no longer
    takes answers, or nothing was saved for the question yet.
    The attempt row is locked, as a save or a submit would.
    """
    now = now or timezone.now()
    attempt = Attempt.objects.select_for_update(of=("self",)).select_related("quiz").get(pk=attempt_id)
    if not can_submit(by, attempt):
        raise AnswerRefused("Only the student who took an attempt checks its answers.", code="not_yours",
                            status=403)
    if not attempt.quiz.review_during:
        raise AnswerRefused("This quiz gives no feedback during the attempt; answers are marked after you submit.",
                            code="no_feedback_during", status=400)
    if attempt.state != AttemptState.IN_PROGRESS:
        raise AnswerRefused("This attempt has been submitted; its review shows what you may see.", code="submitted")
    if now > attempt.accept_until:
        raise AnswerRefused("Time is up for this attempt; it can no longer be checked.", code="deadline_passed")
    slot = next((s for s in slots_of(attempt.quiz) if s.id == slot_id), None)
    if slot is None or all(e["slot"] != slot_id for e in attempt.layout):
        raise AnswerRefused("That question is not part of this attempt.", code="bad_slot", status=400)
    response = Response.objects.filter(attempt=attempt, slot_id=slot_id).first()
    if response is None or response.value in (None, "", []):
        raise AnswerRefused("Answer the question (and let it save) before checking it.", code="nothing_saved",
                            status=400)
    if response.checked_at is None:
        outcome = calc.grade_answer(key_of(slot.question), response.value)
        response.fraction = outcome.fraction
        response.points = calc.points_for(outcome.fraction, slot.points)
        response.needs_manual = outcome.needs_manual
        response.checked_at = now
        response.save(update_fields=["fraction", "points", "needs_manual", "checked_at"])
    response.slot = slot
    return response
