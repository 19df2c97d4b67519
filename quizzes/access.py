"""Who may see and change what in quizzes, in one place.

Builds on courseapp.access (non-members get 404, members with the wrong role 403):

- the instructor authors quizzes and the question bank, regrades, and sees everything;
- a TA sees quizzes, results and statistics and grades the manual queue, but does not author;
- a student sees published quizzes and only their own attempts (another student's is a 404).
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from courseapp.access import access_course, role_in
from courseapp.models import Course, Role, User

from .models import Attempt, Question, Quiz, QuizSlot, Response

STAFF = (Role.INSTRUCTOR, Role.TA)


# --- The rules services apply to their acting user (`by`), as grading.access.can_edit_item ---------------


def can_author(user: User | None, course: Course) -> bool:
    """True if `user` may author the course's quizzes and bank and run regrades: the instructor only."""
    return user is not None and role_in(user, course) == Role.INSTRUCTOR


def can_grade(user: User | None, course: Course) -> bool:
    """True if `user` may grade answers of the manual queue: the instructor or a TA."""
    return user is not None and role_in(user, course) in STAFF


def require_author(by: User | None, course: Course) -> None:
    """PermissionDenied unless `by` may author; `by=None` is the system (demo loader, command, task)."""
    if by is not None and not can_author(by, course):
        raise PermissionDenied("Only the course's instructor changes its quizzes and question bank.")


def require_grader(by: User | None, course: Course) -> None:
    """PermissionDenied unless `by` may grade; `by=None` is the system (submit, the Celery task)."""
    if by is not None and not can_grade(by, course):
        raise PermissionDenied("Only the course's staff grade quiz answers.")


def can_take(user: User, course: Course) -> bool:
    """True if `user` may start attempts at the course's quizzes: its students (staff preview instead)."""
    return role_in(user, course) == Role.STUDENT


def can_submit(user: User, attempt: Attempt) -> bool:
    """True if `user` may submit `attempt`: only the student who took it."""
    return user.pk == attempt.student_id


def access_quizzes(user: User, code: str) -> tuple[Course, str | None]:
    """The course and the person's role, for any member."""
    course = access_course(user, code)
    return course, role_in(user, course)


def access_quiz(user: User, code: str, quiz_id: int, *, roles=None) -> tuple[Quiz, str | None]:
    """A quiz of the course; students only reach published ones."""
    course = access_course(user, code, roles=roles)
    role = role_in(user, course)
    quiz = Quiz.objects.filter(pk=quiz_id, course=course).select_related("course", "lecture").first()
    if quiz is None or (role not in STAFF and not quiz.published):
        raise Http404("No such quiz.")
    return quiz, role


def access_quiz_to_take(user: User, code: str, quiz_id: int) -> Quiz:
    """A published quiz a student of the course may start; staff are refused (they preview instead)."""
    quiz, _ = access_quiz(user, code, quiz_id)
    if not can_take(user, quiz.course):
        raise PermissionDenied("Staff preview quizzes from the quiz page; attempts are for students.")
    return quiz


def access_quiz_as_staff(user: User, code: str, quiz_id: int) -> tuple[Quiz, str | None]:
    return access_quiz(user, code, quiz_id, roles=STAFF)


def access_quiz_as_instructor(user: User, code: str, quiz_id: int) -> Quiz:
    return access_quiz(user, code, quiz_id, roles=(Role.INSTRUCTOR,))[0]


def access_bank(user: User, code: str, *, edit: bool) -> Course:
    """The course's question bank: staff read it, the instructor edits it."""
    return access_course(user, code, roles=(Role.INSTRUCTOR,) if edit else STAFF)


def access_question(user: User, code: str, question_id: int, *, edit: bool) -> Question:
    course = access_bank(user, code, edit=edit)
    question = Question.objects.filter(pk=question_id, course=course).prefetch_related("answers").first()
    if question is None:
        raise Http404("No such question.")
    return question


def access_attempt(user: User, code: str, attempt_id: int) -> tuple[Attempt, bool]:
    """An attempt: its own student, or staff of the course, may see it. Returns (attempt, viewer_is_staff).

    Anyone else, another student included, gets a 404: attempts do not leak.
    """
    course = access_course(user, code)
    staff = role_in(user, course) in STAFF
    attempt = Attempt.objects.filter(pk=attempt_id, quiz__course=course).select_related("quiz", "student").first()
    if attempt is None or (not staff and attempt.student_id != user.id):
        raise Http404("No such attempt.")
    return attempt, staff


def access_own_attempt(user: User, code: str, attempt_id: int) -> Attempt:
    """An attempt, for its own student to submit or check answers; staff who may see it get 403, anyone else 404."""
    attempt, _ = access_attempt(user, code, attempt_id)
    if not can_submit(user, attempt):
        raise PermissionDenied("Only the student who took an attempt submits it or checks its answers.")
    return attempt


def access_slot_for_grading(user: User, code: str, quiz_id: int, slot_id: int) -> QuizSlot:
    quiz, _ = access_quiz_as_staff(user, code, quiz_id)
    slot = QuizSlot.objects.filter(pk=slot_id, quiz=quiz).select_related("question", "quiz").first()
    if slot is None:
        raise Http404("No such question in this quiz.")
    return slot


def access_response_for_grading(user: User, code: str, response_id: int) -> Response:
    """An answer in the manual grading queue; staff (instructor or TA) of its course only."""
    course = access_course(user, code, roles=STAFF)
    response = Response.objects.filter(pk=response_id, attempt__quiz__course=course).select_related(
        "slot", "attempt"
    ).first()
    if response is None:
        raise Http404("No such answer.")
    return response
