"""The course domain: people, courses, their staff, enrollment and schedule."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .storage import materials_storage


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
    policy = models.TextField(blank=True, help_text="Course policies shown on the course page (plain text)")
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


class SessionKind(models.TextChoices):
    LECTURE = "lecture", "Lecture"
    EXTRA = "extra", "Extra session"
    EXAM = "exam", "Exam"


class Lecture(models.Model):
    """One class meeting: a weekly lecture from the syllabus, an extra session or an exam.

    `planned_*` keep where and when the syllabus put the session: they are filled the first
    time it is moved (null/empty: never moved), so the page and the history show from → to.
    A cancelled session stays (the feed marks it STATUS:CANCELLED); `sequence` is the
    iCalendar SEQUENCE, raised on every change so calendar clients replace their copy.
    """

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lectures")
    week = models.PositiveSmallIntegerField(help_text="Counted by date from the first lecture")
    kind = models.CharField(max_length=10, choices=SessionKind.choices, default=SessionKind.LECTURE)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    room = models.CharField(max_length=60)
    topic = models.CharField(max_length=200)
    subtopics = models.JSONField(default=list, blank=True)
    cancelled = models.BooleanField(default=False)
    note = models.CharField(max_length=300, blank=True, help_text="Why it was moved or cancelled, shown to all")
    planned_starts_at = models.DateTimeField(null=True, blank=True, help_text="Syllabus time; null: never moved")
    planned_ends_at = models.DateTimeField(null=True, blank=True)
    planned_room = models.CharField(max_length=60, blank=True, help_text="Syllabus room; empty: never moved")
    sequence = models.PositiveIntegerField(default=0, help_text="iCalendar SEQUENCE: raised on every change")

    class Meta:
        ordering = ["starts_at"]
        constraints = [
            models.UniqueConstraint(fields=["course", "week"], condition=Q(kind="lecture"),
                                    name="one_lecture_per_week"),
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="lecture_ends_after_start"),
        ]

    def __str__(self) -> str:
        return f"Week {self.week}: {self.topic}"

    @property
    def is_moved(self) -> bool:
        return self.planned_starts_at is not None and (
            self.planned_starts_at != self.starts_at or self.planned_ends_at != self.ends_at
            or (self.planned_room or self.room) != self.room
        )


class LectureMaterial(models.Model):
    """Slides, a link or a file attached to a session. Exactly one of `url` and `file`.

    Files live in MATERIALS_ROOT (never served by the web server): the material view
    sends them to the course's members only, as attachments.
    """

    lecture = models.ForeignKey(Lecture, on_delete=models.CASCADE, related_name="materials")
    title = models.CharField(max_length=200)
    url = models.URLField(max_length=500, blank=True)
    file = models.FileField(storage=materials_storage, upload_to="materials/%Y/%m/", max_length=300, blank=True)
    original_name = models.CharField(max_length=200, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(url="") & ~Q(file="")) | (~Q(url="") & Q(file="")), name="material_link_or_file"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class TextFormat(models.TextChoices):
    PLAIN = "plain", "Plain text"
    MARKDOWN = "markdown", "Markdown"


class Announcement(models.Model):
    """A message to the course: shown on its pages and, when asked, e-mailed to its members.

    `body_html` is `body` rendered and sanitised (nh3) when posted; templates show only it.
    """

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="announcements")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    title = models.CharField(max_length=200)
    body = models.TextField()
    body_format = models.CharField(max_length=10, choices=TextFormat.choices, default=TextFormat.PLAIN)
    body_html = models.TextField()
    email = models.BooleanField(default=False, help_text="E-mail it to the course's members")
    emailed_at = models.DateTimeField(null=True, blank=True)
    emailed_to = models.PositiveIntegerField(default=0, help_text="How many addresses it was sent to")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["course", "-created_at"])]

    def __str__(self) -> str:
        return self.title


class ChangeSubject(models.TextChoices):
    COURSE = "course", "Course page"
    TEXTBOOKS = "textbooks", "Textbooks"
    STAFF = "staff", "Staff"
    SESSION = "session", "Schedule"
    MATERIAL = "material", "Material"
    ANNOUNCEMENT = "announcement", "Announcement"


class CourseChange(models.Model):
    """Append-only history of edits to a course's page, schedule, materials and announcements.

    `changes` maps a field to [old, new] as display strings; `target` names what changed
    (e.g. "Week 13: Transformers") so the row reads on its own after the object is gone.
    Only courseapp.editing writes rows; nothing updates or deletes them.
    """

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="changes")
    changed_at = models.DateTimeField(default=timezone.now)
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    subject = models.CharField(max_length=20, choices=ChangeSubject.choices)
    action = models.CharField(max_length=20)
    target = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["course", "-changed_at"])]

    def __str__(self) -> str:
        return f"{self.changed_at:%Y-%m-%d %H:%M} {self.subject} {self.action} {self.target}"


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
