"""The course domain: people, courses, their staff, enrollment and schedule."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person. The student number is METU's and belongs to the person, not a course."""

    student_number = models.CharField(max_length=20, unique=True, null=True, blank=True)

    class Meta:
        ordering = ["last_name", "first_name", "username"]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Course(models.Model):
    code = models.SlugField(max_length=40, unique=True, help_text="URL code, e.g. ceng501-2024f")
    number = models.CharField(max_length=20, help_text="Catalogue number, e.g. CENG 501")
    title = models.CharField(max_length=200)
    term = models.CharField(max_length=60, help_text="e.g. 2024-2025 Fall")
    department = models.CharField(max_length=200)
    university = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    credits_theoretical = models.PositiveSmallIntegerField(default=3)
    credits_laboratory = models.PositiveSmallIntegerField(default=0)
    ects = models.DecimalField(max_digits=4, decimal_places=1, default=0)
    website = models.URLField(blank=True)
    mailing_list = models.CharField(max_length=200, blank=True)
    textbook_note = models.TextField(blank=True)
    lecture_weekday = models.PositiveSmallIntegerField(help_text="0 = Monday … 6 = Sunday")
    lecture_start = models.TimeField()
    lecture_end = models.TimeField()
    lecture_room = models.CharField(max_length=60)
    time_zone = models.CharField(max_length=60, default="Europe/Istanbul")
    calendar_token = models.CharField(
        max_length=64, unique=True, help_text="Secret part of the public iCalendar feed URL"
    )

    class Meta:
        ordering = ["number", "term"]

    def __str__(self) -> str:
        return f"{self.number} {self.title} ({self.term})"


class Role(models.TextChoices):
    INSTRUCTOR = "instructor", "Instructor"
    TA = "ta", "Teaching assistant"
    STUDENT = "student", "Student"


class Membership(models.Model):
    """A person's role in one course: a student here may be a TA elsewhere."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices)
    office_hours = models.CharField(max_length=200, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["course", "user"], name="one_membership_per_course"),
        ]
        indexes = [models.Index(fields=["course", "role"])]

    def __str__(self) -> str:
        return f"{self.user} — {self.get_role_display()} in {self.course.number}"


class Textbook(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="textbooks")
    citation = models.TextField()
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return self.citation


class Lecture(models.Model):
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lectures")
    week = models.PositiveSmallIntegerField(help_text="Counted by date from the first lecture")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    room = models.CharField(max_length=60)
    topic = models.CharField(max_length=200)
    subtopics = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["course", "week"], name="one_lecture_per_week"),
        ]

    def __str__(self) -> str:
        return f"Week {self.week}: {self.topic}"


class ApiToken(models.Model):
    """An API token (`Authorization: Token <key>`). Only the SHA-256 digest of the key is stored.

    The key is shown once, when it is made (courseapp.tokens.token_create); nobody
    can read it back, staff and admins included. `prefix` (its first 8 characters)
    lets its owner tell tokens apart. A revoked token is kept (revoked_at set) so
    its owner can still see when it was last used.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=8, help_text="The key's first 8 characters, to tell tokens apart")
    digest = models.CharField(max_length=64, unique=True, help_text="SHA-256 of the key, hex")
    created_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="To the minute")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…) of {self.user}"
