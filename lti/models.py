"""LTI 1.3 storage: the tool's keys, registered platforms, who is who there, and what was sent back.

No workflow here: launches, roster sync and grade passback are services (launches.py,
roster.py, passback.py) that the views, tasks and commands call.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from courseapp.models import Course


class KeyState(models.TextChoices):
    CURRENT = "current", "Current (signs)"
    PREVIOUS = "previous", "Previous (still published)"
    RETIRED = "retired", "Retired"


class ToolKey(models.Model):
    """An RSA key pair of this tool. The current key signs; current and previous are published.

    Rotation makes a new current key and keeps the old one published as previous, so a
    platform that cached the JWKS still verifies messages until it refetches (no downtime).
    """

    kid = models.CharField(max_length=64, unique=True)
    private_key_pem = models.TextField()
    public_jwk = models.JSONField()
    state = models.CharField(max_length=10, choices=KeyState.choices, default=KeyState.CURRENT)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["state"], condition=Q(state="current"), name="one_current_tool_key"),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.state})"


class Platform(models.Model):
    """A registered LMS (an issuer + client id), bound to one course of this site."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lti_platforms")
    name = models.CharField(max_length=120, help_text="e.g. ODTUClass")
    issuer = models.URLField(max_length=255, help_text="Moodle: the site URL, e.g. https://odtuclass.metu.edu.tr")
    client_id = models.CharField(max_length=255)
    auth_login_url = models.URLField(max_length=500, help_text="OIDC authentication request URL")
    auth_token_url = models.URLField(max_length=500, help_text="OAuth2 access token URL")
    key_set_url = models.URLField(max_length=500, help_text="The platform's public keyset (JWKS) URL")
    auth_audience = models.CharField(max_length=500, blank=True, help_text="Token audience, if not the token URL")
    match_by_email = models.BooleanField(
        default=False, help_text="A first launch may sign in to an existing account with the same e-mail"
    )
    match_by_student_number = models.BooleanField(
        default=False, help_text="A first launch may sign in to an existing account with the same student number"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["issuer", "client_id"], name="one_platform_per_issuer_client"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.issuer})"


class Deployment(models.Model):
    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="deployments")
    deployment_id = models.CharField(max_length=255)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "deployment_id"], name="unique_lti_deployment"),
        ]

    def __str__(self) -> str:
        return self.deployment_id


class Identity(models.Model):
    """A platform's user (`sub`) is this site's user."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="identities")
    sub = models.CharField(max_length=255)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="lti_identities")
    created_at = models.DateTimeField(auto_now_add=True)
    last_launch_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["platform", "sub"], name="one_identity_per_sub"),
            models.UniqueConstraint(fields=["platform", "user"], name="one_sub_per_user_and_platform"),
        ]

    def __str__(self) -> str:
        return f"{self.sub} @ {self.platform_id} = {self.user_id}"


class Context(models.Model):
    """A platform's course (LTI context), with the service endpoints its last launch gave."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="contexts")
    context_id = models.CharField(max_length=255)
    title = models.CharField(max_length=255, blank=True)
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="lti_contexts")
    nrps_claim = models.JSONField(default=dict, blank=True, help_text="namesroleservice claim of the last launch")
    ags_claim = models.JSONField(default=dict, blank=True, help_text="AGS endpoint claim of the last launch")
    last_launch_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "context_id"], name="unique_lti_context"),
        ]

    def __str__(self) -> str:
        return self.title or self.context_id


class UsedNonce(models.Model):
    """Nonces of accepted launches, kept until the id_token expires: a second use is a replay."""

    platform = models.ForeignKey(Platform, on_delete=models.CASCADE, related_name="+")
    nonce = models.CharField(max_length=255)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["platform", "nonce"], name="nonce_used_once")]

    def __str__(self) -> str:
        return self.nonce


class LaunchValue(models.Model):
    """PyLTI1p3's launch data storage (state, nonce, launch data) in the database.

    The database, not a per-process cache, so that the OIDC login and the launch may be
    served by different gunicorn workers.
    """

    key = models.CharField(max_length=255, unique=True)
    value = models.JSONField(null=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.key


class SyncStatus(models.TextChoices):
    APPLIED = "applied", "Applied"
    REFUSED = "refused", "Refused (nothing changed)"
    FAILED = "failed", "Failed (platform unreachable)"


class RosterSync(models.Model):
    """One roster sync attempt from NRPS, by a person (button) or by the nightly task (by = None)."""

    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="roster_syncs")
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="+")
    at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=10, choices=SyncStatus.choices)
    counts = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.context_id} {self.at:%Y-%m-%d %H:%M} {self.status}"


class LineItem(models.Model):
    """A column in the platform's gradebook: the course total (grade_item None) or one grade item."""

    context = models.ForeignKey(Context, on_delete=models.CASCADE, related_name="line_items")
    grade_item = models.ForeignKey("grading.GradeItem", null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="+")
    url = models.URLField(max_length=500, blank=True, help_text="The line item's URL on the platform")
    label = models.CharField(max_length=255)
    score_maximum = models.DecimalField(max_digits=8, decimal_places=2)
    enabled = models.BooleanField(default=True)
    last_error = models.TextField(blank=True, help_text="Why the platform refused to create it, if it did")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["context", "grade_item"], name="one_line_item_per_grade_item"),
            models.UniqueConstraint(fields=["context"], condition=Q(grade_item__isnull=True),
                                    name="one_total_line_item"),
        ]

    def __str__(self) -> str:
        return self.label


class PostStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SUPERSEDED = "superseded", "Superseded by a newer value"


class ScorePost(models.Model):
    """One score sent (or to be sent) to the platform, with the platform's answer."""

    line_item = models.ForeignKey(LineItem, on_delete=models.CASCADE, related_name="posts")
    student = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    sub = models.CharField(max_length=255)
    score_given = models.DecimalField(max_digits=8, decimal_places=2)
    score_maximum = models.DecimalField(max_digits=8, decimal_places=2)
    status = models.CharField(max_length=12, choices=PostStatus.choices, default=PostStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the last attempt was made")
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="The platform's answer (first 2000 characters)")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["line_item", "student", "status"])]

    def __str__(self) -> str:
        return f"{self.student_id} {self.score_given}/{self.score_maximum} ({self.status})"
