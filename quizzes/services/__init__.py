"""Writes for quizzes, one module per job; this package re-exports their public names.

- authoring.py: quiz settings and which bank questions a quiz holds (instructor);
- bank.py: the question bank, GIFT import, answer-key changes (instructor);
- taking.py: start and submit an attempt, submit expired ones;
- saves.py: the answer save (the hot path): the one rule for who may save, whether
  the attempt still takes answers, and version ordering, as one SQL statement;
- grading.py: scoring a submitted attempt, the manual queue, regrades, the gradebook post.

Every function here is transactional. The same functions serve the pages, the
API, the Celery tasks and the demo loader. Services that change state take
`by=`, the acting user, and check it with quizzes.access (require_author,
require_grader, require_taker); `by=None` is the system (a task, the demo loader).
Errors a person can cause raise django.core.exceptions.ValidationError (or
AnswerRefused for the taking path) with a message that says what to do.
"""

from __future__ import annotations

from .authoring import QUIZ_FIELDS, quiz_create, quiz_update, slot_add, slot_remove, slots_reorder
from .bank import (
    ANSWER_FIELDS,
    QUESTION_FIELDS,
    QuestionUpdate,
    parsed_fields,
    positive_points,
    question_check,
    question_create,
    question_update,
    question_update_from_gift,
    questions_import_gift,
)
from .grading import GRADE_SOURCE, RegradeSummary, quiz_grade_post, regrade, regrade_send, response_grade
from .saves import _FACTS as _FACTS
from .saves import AnswerConflict, AnswerRefused, SaveResult, answer_save, answer_save_by_token
from .taking import (
    TIMER_SLACK,
    answer_check,
    attempt_start,
    attempt_submit,
    autosubmit_expired,
    expired_attempt_ids,
)

__all__ = [
    "ANSWER_FIELDS", "GRADE_SOURCE", "QUESTION_FIELDS", "QUIZ_FIELDS", "TIMER_SLACK", "AnswerConflict",
    "AnswerRefused", "QuestionUpdate", "answer_check", "RegradeSummary", "SaveResult", "answer_save", "answer_save_by_token",
    "attempt_start", "attempt_submit", "autosubmit_expired", "expired_attempt_ids", "parsed_fields", "positive_points",
    "question_check", "question_create", "question_update", "question_update_from_gift", "questions_import_gift",
    "quiz_create", "quiz_grade_post", "quiz_update", "regrade", "regrade_send", "response_grade", "slot_add",
    "slot_remove", "slots_reorder",
]
