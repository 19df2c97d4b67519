"""Quiz storage: the question bank, quizzes, attempts and saved answers.

Points are Decimals. Fractions (of a question's points) are Decimals in [-1, 1].
No workflow lives here: starting, saving, submitting, grading and regrading are
in services/; grading one answer is a pure function in calculations.py.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from courseapp.models import Course, Lecture


class QuestionType(models.TextChoices):
    SINGLE = "single", "Single choice"
    MULTI = "multi", "Multiple choice (partial credit)"
    TRUEFALSE = "truefalse", "True/false"
    NUMERIC = "numeric", "Numeric"
    SHORT = "short", "Short answer"
    ESSAY = "essay", "Essay (graded by hand)"
    MATCHING = "matching", "Matching"


CHOICE_TYPES = {QuestionType.SINGLE, QuestionType.MULTI}


class TextFormat(models.TextChoices):
    PLAIN = "plain", "Plain text"
    HTML = "html", "HTML (sanitised)"
    MARKDOWN = "markdown", "Markdown"


class Question(models.Model):
    """A question in the course's bank; quizzes use it through QuizSlot.

    The answer key is the question's `answers` (choices, accepted texts or numbers)
    plus `correct_bool` for true/false. `key_version` counts answer-key changes.
    """

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="quiz_questions")
    category = models.CharField(max_length=200, blank=True, help_text="Bank folder, e.g. 'Fundamentals/Backprop'")
    title = models.CharField(max_length=200)
    text = models.TextField()
    text_format = models.CharField(
        max_length=10, choices=TextFormat.choices, default=TextFormat.PLAIN,
        help_text="How the text and general feedback are written; HTML is sanitised when shown",
    )
    qtype = models.CharField(max_length=12, choices=QuestionType.choices)
    default_points = models.DecimalField(max_digits=6, decimal_places=2, default=Decimal("1"))
    correct_bool = models.BooleanField(null=True, blank=True, help_text="True/false questions only")
    true_feedback = models.TextField(blank=True, help_text="True/false: feedback when the student answers true")
    false_feedback = models.TextField(blank=True, help_text="True/false: feedback when the student answers false")
    case_sensitive = models.BooleanField(default=False, help_text="Short answer: compare case")
    use_regex = models.BooleanField(default=False, help_text="Short answer: accepted answers are regular expressions")
    manual_review = models.BooleanField(default=False, help_text="Send every answer to the manual grading queue")
    rubric = models.TextField(blank=True, help_text="Shown to graders in the manual grading queue")
    general_feedback = models.TextField(blank=True)
    key_version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "title", "id"]
        indexes = [models.Index(fields=["course", "category"])]

    def __str__(self) -> str:
        return self.title


class Answer(models.Model):
    """One choice (single/multi), one accepted answer (short), one accepted number (numeric), or one
    pair of a matching question (`text` the item, `match` its partner; an empty `text` is a distractor).

    `fraction` is the share of the question's points this answer earns, in [-1, 1];
    negative only for wrong choices of multiple-choice questions (matching: 1 per item, 0 per distractor).
    """

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="answers")
    text = models.TextField(blank=True)
    fraction = models.DecimalField(max_digits=8, decimal_places=7, default=Decimal("0"))
    feedback = models.TextField(blank=True)
    value = models.DecimalField(max_digits=20, decimal_places=8, null=True, blank=True, help_text="Numeric only")
    tolerance = models.DecimalField(max_digits=20, decimal_places=8, default=Decimal("0"), help_text="Numeric only")
    match = models.TextField(blank=True, help_text="Matching only: the partner of `text`")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.text or self.value} ({self.fraction})"


class GradingMethod(models.TextChoices):
    HIGHEST = "highest", "Highest attempt"
    LAST = "last", "Last attempt"
    FIRST = "first", "First attempt"
    AVERAGE = "average", "Average of attempts"


class Quiz(models.Model):
    """A quiz of a course: a window, a time limit, attempts and a review policy.

    Review policy: what a student sees of their own attempt once submitted
    (`review_after_submit`) and once the quiz has closed (`review_after_close`),
    each a list drawn from REVIEW_PARTS; and during the attempt (`review_during`,
    drawn from DURING_PARTS, default none), of each question the student has
    *checked*: Moodle's immediate feedback, where checking makes that answer final.
    """

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="quizzes")
    lecture = models.ForeignKey(Lecture, null=True, blank=True, on_delete=models.SET_NULL, related_name="quizzes")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    opens_at = models.DateTimeField()
    closes_at = models.DateTimeField()
    time_limit = models.DurationField(null=True, blank=True, help_text="None: until the quiz closes")
    grace_seconds = models.PositiveIntegerField(
        default=5, help_text="Answers arriving this long after the deadline are still accepted (network latency)"
    )
    max_attempts = models.PositiveSmallIntegerField(default=1, help_text="0 = unlimited")
    grading_method = models.CharField(max_length=10, choices=GradingMethod.choices, default=GradingMethod.HIGHEST)
    shuffle_questions = models.BooleanField(default=False)
    shuffle_choices = models.BooleanField(default=True)
    review_after_submit = models.JSONField(default=list, blank=True)
    review_after_close = models.JSONField(default=list, blank=True)
    review_during = models.JSONField(default=list, blank=True)
    # Raised whenever the quiz's questions, their order, points, texts or keys change: keys the layout cache.
    layout_version = models.PositiveIntegerField(default=1, editable=False)
    published = models.BooleanField(default=False, help_text="Students see only published quizzes")
    grade_item = models.OneToOneField(
        "grading.GradeItem", null=True, blank=True, on_delete=models.SET_NULL, related_name="quiz"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["opens_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["course", "title"], name="unique_quiz_title"),
            models.CheckConstraint(condition=Q(closes_at__gt=models.F("opens_at")), name="quiz_closes_after_opening"),
        ]

    def __str__(self) -> str:
        return self.title


REVIEW_PARTS = ("score", "answers", "correct", "feedback")
# During the attempt the student's own answers are on the page anyway; the rest is shown per checked question.
DURING_PARTS = ("score", "correct", "feedback")


class QuizSlot(models.Model):
    """A question's place in a quiz, with the points it is worth there."""

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="slots")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="slots")
    position = models.PositiveSmallIntegerField(default=0)
    points = models.DecimalField(max_digits=6, decimal_places=2)

    class Meta:
        ordering = ["position", "id"]
        constraints = [models.UniqueConstraint(fields=["quiz", "question"], name="question_once_per_quiz")]

    def __str__(self) -> str:
        return f"{self.quiz} #{self.position}: {self.question}"


class AttemptState(models.TextChoices):
    IN_PROGRESS = "in_progress", "In progress"
    NEEDS_GRADING = "needs_grading", "Submitted, waiting for manual grading"
    GRADED = "graded", "Graded"


class Attempt(models.Model):
    """One student's attempt. `deadline` = min(start + time limit, quiz close), fixed at start.

    `layout` freezes the order of slots and of each slot's choices for this
    attempt (shuffling is stable across reloads and devices), and carries each
    slot's question type so the save path validates without loading questions:
    [{"slot": id, "type": "single", "choices": [answer ids]}, ...].
    `score` is in points (None until every answer is graded).
    """

    quiz = models.ForeignKey(Quiz, on_delete=models.CASCADE, related_name="attempts")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="quiz_attempts")
    number = models.PositiveSmallIntegerField()
    state = models.CharField(max_length=15, choices=AttemptState.choices, default=AttemptState.IN_PROGRESS)
    started_at = models.DateTimeField()
    deadline = models.DateTimeField()
    accept_until = models.DateTimeField(help_text="deadline + the quiz's grace period: saves after it are refused")
    submitted_at = models.DateTimeField(null=True, blank=True)
    auto_submitted = models.BooleanField(default=False)
    layout = models.JSONField(default=list)
    score = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    max_score = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))

    class Meta:
        ordering = ["quiz", "student", "number"]
        constraints = [
            models.UniqueConstraint(fields=["quiz", "student", "number"], name="unique_attempt_number"),
            # Two tabs pressing "Start" together get the same attempt, not two.
            models.UniqueConstraint(
                fields=["quiz", "student"], condition=Q(state="in_progress"), name="one_open_attempt"
            ),
        ]
        indexes = [models.Index(fields=["state", "accept_until"], name="quizzes_att_state_accept_idx")]

    def __str__(self) -> str:
        return f"{self.student} — {self.quiz} attempt {self.number}"


class Response(models.Model):
    """The saved answer to one slot of one attempt (one row per pair, upserted).

    `value` is the raw answer: a choice id (single), a list of choice ids (multi),
    true/false, or text (numeric, short, essay). `version` is owned by the server:
    1 for the first save, +1 for each save that changes the row. A save names the
    version it replaces (`base`); one whose base is not the stored version and whose
    value differs is a conflict (another device saved in between), never applied.
    `client_seq` serves scripts that number their saves instead (`seq`): a save with
    a lower or equal number than the stored one is stale and ignored. `fraction`/`points` are None until graded;
    `needs_manual` marks answers waiting in the manual grading queue.
    """

    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="responses")
    slot = models.ForeignKey(QuizSlot, on_delete=models.CASCADE, related_name="responses")
    value = models.JSONField(null=True, blank=True)
    client_seq = models.BigIntegerField(default=0)
    version = models.PositiveIntegerField(default=1)
    saved_at = models.DateTimeField()
    fraction = models.DecimalField(max_digits=8, decimal_places=7, null=True, blank=True)
    points = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    needs_manual = models.BooleanField(default=False)
    graded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    graded_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    # Set when the student checked this answer during the attempt (quizzes with review_during): final from then on.
    checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["attempt", "slot"], name="one_response_per_slot")]
        indexes = [models.Index(fields=["slot", "needs_manual"])]

    def __str__(self) -> str:
        return f"{self.attempt} / slot {self.slot_id}"


class KeyChange(models.Model):
    """A change of a question's answer key after attempts existed, and its regrade.

    `before`/`after` are the key as `calculations.answer_key` describes it.
    `regraded_at` is None while the offered regrade has not been run.
    """

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="key_changes")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)
    before = models.JSONField()
    after = models.JSONField()
    regraded_at = models.DateTimeField(null=True, blank=True)
    regraded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self) -> str:
        return f"Key change of {self.question} at {self.changed_at:%Y-%m-%d %H:%M}"


class RegradeEntry(models.Model):
    """What a regrade did to one attempt: its score before and after."""

    key_change = models.ForeignKey(KeyChange, on_delete=models.CASCADE, related_name="entries")
    attempt = models.ForeignKey(Attempt, on_delete=models.CASCADE, related_name="regrades")
    old_score = models.DecimalField(max_digits=8, decimal_places=2, null=True)
    new_score = models.DecimalField(max_digits=8, decimal_places=2, null=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Regrade of attempt {self.attempt_id}: {self.old_score} → {self.new_score}"
