"""Gradebook storage: categories, items, grades and their history.

Points are Decimals; no total is stored (totals are computed, see calculations.py).
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models

from courseapp.models import Course


class Aggregation(models.TextChoices):
    TOTAL_POINTS = "total_points", "Total points"
    MEAN = "mean", "Mean of percentages"
    WEIGHTED_MEAN = "weighted_mean", "Weighted mean of percentages"


class LateBase(models.TextChoices):
    """What a late penalty (and its floor) is a percent of."""

    SCORE = "score", "of the score"
    POSSIBLE = "possible", "of points possible"


ITEM_LATE_BASE_CHOICES = [("", "as its category"), *LateBase.choices]


class Category(models.Model):
    """A weighted part of the final grade, e.g. Quizzes 20%."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="grade_categories")
    name = models.CharField(max_length=100)
    weight = models.DecimalField(max_digits=6, decimal_places=3, help_text="Percent of the course total")
    aggregation = models.CharField(max_length=20, choices=Aggregation.choices, default=Aggregation.TOTAL_POINTS)
    drop_lowest = models.PositiveSmallIntegerField(default=0)
    drop_highest = models.PositiveSmallIntegerField(default=0)
    position = models.PositiveSmallIntegerField(default=0)
    description = models.CharField(max_length=200, blank=True)
    late_penalty_base = models.CharField(
        max_length=10, choices=LateBase.choices, default=LateBase.SCORE,
        help_text="What its items' late penalties are a percent of, unless an item says otherwise",
    )

    class Meta:
        ordering = ["course", "position", "id"]
        verbose_name_plural = "categories"
        constraints = [models.UniqueConstraint(fields=["course", "name"], name="unique_category_name")]

    def __str__(self) -> str:
        return f"{self.name} ({self.weight}%)"


class LateUnit(models.TextChoices):
    DAY = "day", "per started day"
    HOUR = "hour", "per started hour"


class GradeItem(models.Model):
    """One graded thing: a quiz, the final exam, a project part."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="grade_items")
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="items")
    name = models.CharField(max_length=120)
    short_name = models.CharField(max_length=30, blank=True)
    points_possible = models.DecimalField(max_digits=8, decimal_places=2)
    weight = models.DecimalField(
        max_digits=8, decimal_places=3, null=True, blank=True, help_text="Weight within its category"
    )
    due_at = models.DateTimeField(null=True, blank=True)
    extra_credit = models.BooleanField(default=False)
    never_drop = models.BooleanField(default=False)
    released = models.BooleanField(default=False, help_text="Students see the grade once released")
    ta_editable = models.BooleanField(default=False, help_text="TAs may enter grades for this item")
    late_penalty_percent = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))
    late_penalty_unit = models.CharField(max_length=10, choices=LateUnit.choices, default=LateUnit.DAY)
    late_penalty_floor_percent = models.DecimalField(
        max_digits=5, decimal_places=2, default=Decimal("0"),
        help_text="Lowest the penalty can take a score, in % of the same base as the penalty",
    )
    late_penalty_base = models.CharField(
        max_length=10, choices=ITEM_LATE_BASE_CHOICES, default="", blank=True,
        help_text="What the late penalty and its floor are a percent of; empty: as its category",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["course", "category__position", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["course", "name"], name="unique_item_name")]

    def __str__(self) -> str:
        return self.name


class GradeState(models.TextChoices):
    GRADED = "graded", "Graded"
    EXCUSED = "excused", "Excused"


class Grade(models.Model):
    """The current grade of one student on one item. No row means missing."""

    item = models.ForeignKey(GradeItem, on_delete=models.CASCADE, related_name="grades")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="grades")
    state = models.CharField(max_length=10, choices=GradeState.choices, default=GradeState.GRADED)
    raw_points = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    late_penalty_points = models.DecimalField(max_digits=8, decimal_places=2, default=Decimal("0"))
    points = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True, help_text="Counted points: raw minus late penalty"
    )
    submitted_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=40, default="manual", help_text="manual, import, quiz, autograder")
    comment = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "student"], name="one_grade_per_item")]

    def __str__(self) -> str:
        return f"{self.student} {self.item}: {self.points}"


class GradeChange(models.Model):
    """Append-only history of every change to a grade (who, when, old → new, why)."""

    item = models.ForeignKey(GradeItem, on_delete=models.CASCADE, related_name="changes")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    old_state = models.CharField(max_length=10, blank=True)
    new_state = models.CharField(max_length=10, blank=True)
    old_points = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    new_points = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    old_raw_points = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    new_raw_points = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    late_penalty_points = models.DecimalField(
        max_digits=8, decimal_places=2, default=Decimal("0"), help_text="Penalty included in new_points"
    )
    old_comment = models.TextField(blank=True)
    new_comment = models.TextField(blank=True)
    source = models.CharField(max_length=40)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["item", "student"])]

    def __str__(self) -> str:
        return f"{self.item_id}/{self.student_id}: {self.old_points} → {self.new_points} ({self.source})"


class LetterCutoff(models.Model):
    """A course's own letter scale (curving). No rows: METU's default scale applies."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="letter_cutoffs")
    letter = models.CharField(max_length=4)
    min_percent = models.DecimalField(max_digits=6, decimal_places=2, help_text="Lowest total that earns it")
    grade_point = models.DecimalField(max_digits=3, decimal_places=1)

    class Meta:
        ordering = ["course", "-min_percent"]
        constraints = [models.UniqueConstraint(fields=["course", "letter"], name="unique_letter_per_course")]

    def __str__(self) -> str:
        return f"{self.letter} from {self.min_percent}"


class LetterOverride(models.Model):
    """Append-only: the newest row per (course, student) is the override in force; letter "" clears it."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="letter_overrides")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    letter = models.CharField(max_length=4, blank=True)
    reason = models.TextField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["course", "student"])]

    def __str__(self) -> str:
        return f"{self.student}: {self.letter or '(cleared)'}"


class Weighting(models.TextChoices):
    NORMALISED = "normalised", "Normalised: weights count in proportion to their sum"
    ABSOLUTE = "absolute", "Absolute: weights are percent of the course (may add up to more than 100)"


class GradebookOptions(models.Model):
    """A course's gradebook-wide rules. No row: the defaults (normalised weights, no missing-work
    policy, letters not released)."""

    course = models.OneToOneField(Course, on_delete=models.CASCADE, related_name="gradebook_options")
    weighting = models.CharField(max_length=12, choices=Weighting.choices, default=Weighting.NORMALISED)
    missing_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True,
        help_text="Missing work past its due date counts as this percent of its points; empty: off",
    )
    letters_released = models.BooleanField(default=False, help_text="Students see their letter")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "gradebook options"
        verbose_name_plural = "gradebook options"

    def __str__(self) -> str:
        return f"Gradebook options of {self.course}"


class GradebookOptionsChange(models.Model):
    """Append-only history of a course's gradebook options (who, when, which setting, old → new, why)."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="gradebook_option_changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now_add=True)
    setting = models.CharField(max_length=30)
    old_value = models.CharField(max_length=40, blank=True)
    new_value = models.CharField(max_length=40, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["course", "changed_at"])]

    def __str__(self) -> str:
        return f"{self.course}: {self.setting} {self.old_value} → {self.new_value}"
