"""Project storage: projects and their parts, harness bundles, teams, submissions,
grading runs and rubric grades.

No workflow lives here (STYLE.md): the rules are in services.py and
calculations.py.  Points are Decimals; a part's grade lives in the gradebook
(grading.Grade) and is posted by services.part_grade_post.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q

from courseapp.models import Course
from grading.models import GradeItem


class CountingPolicy(models.TextChoices):
    LAST = "last", "Last submission counts"
    BEST = "best", "Best submission counts"


class Project(models.Model):
    """The course project (45% of CENG 501): team rules and submission rules shared by its parts."""

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="projects")
    slug = models.SlugField(max_length=60)
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    team_size = models.PositiveSmallIntegerField(default=2, help_text="Most members a team may have")
    teams_locked = models.BooleanField(default=False, help_text="Students may no longer create, join or leave teams")
    counting = models.CharField(max_length=10, choices=CountingPolicy.choices, default=CountingPolicy.LAST)
    daily_submission_limit = models.PositiveSmallIntegerField(
        default=5, help_text="Submissions per team per part per day (Europe/Istanbul); 0 means no limit"
    )
    max_upload_mb = models.PositiveIntegerField(default=50, help_text="Largest upload accepted, in MB")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["course", "name"]
        constraints = [models.UniqueConstraint(fields=["course", "slug"], name="unique_project_slug")]

    def __str__(self) -> str:
        return self.name


class GradingMode(models.TextChoices):
    AUTOGRADED = "autograded", "Autograded"
    RUBRIC = "rubric", "Hand-graded with a rubric"
    BOTH = "both", "Autograded and rubric"


class ProjectPart(models.Model):
    """One graded part of a project (proposal, progress report, final code).

    Its points, deadline and late policy are those of its gradebook item: the
    gradebook applies them when a score is posted.  In BOTH mode the autograder
    gives ``autograde_points`` of the item's points and the rubric the rest.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="parts")
    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="+")  # = project.course
    slug = models.SlugField(max_length=60, help_text="URL name, unique in the course, e.g. final-code")
    name = models.CharField(max_length=120)
    description = models.TextField(blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    grade_item = models.OneToOneField(GradeItem, on_delete=models.PROTECT, related_name="project_part")
    mode = models.CharField(max_length=12, choices=GradingMode.choices, default=GradingMode.AUTOGRADED)
    autograde_points = models.DecimalField(
        max_digits=8, decimal_places=2, null=True, blank=True,
        help_text="BOTH mode: points of the part that come from the autograder (the rubric gives the rest)",
    )
    opens_at = models.DateTimeField(null=True, blank=True, help_text="No submissions before (none: open)")
    closes_at = models.DateTimeField(
        null=True, blank=True, help_text="No submissions after (none: late submissions always accepted)"
    )
    accepted_files = models.CharField(
        max_length=200, blank=True, help_text="Comma-separated extensions for hand-graded uploads, e.g. .pdf"
    )
    harness = models.ForeignKey(
        "HarnessBundle", null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The harness new submissions are graded with",
    )
    results_published = models.BooleanField(
        default=False, help_text="Students see hidden and after_published tests and their totals"
    )

    class Meta:
        ordering = ["project", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["course", "slug"], name="unique_part_slug_in_course")]

    def __str__(self) -> str:
        return self.name

    @property
    def due_at(self):
        return self.grade_item.due_at

    @property
    def points(self) -> Decimal:
        return self.grade_item.points_possible

    @property
    def autograded(self) -> bool:
        return self.mode in (GradingMode.AUTOGRADED, GradingMode.BOTH)

    @property
    def rubric_graded(self) -> bool:
        return self.mode in (GradingMode.RUBRIC, GradingMode.BOTH)


class HarnessBundle(models.Model):
    """One version of an autograder harness, stored as a zip under HARNESS_ROOT.

    ``sha256`` is the runner's digest of the bundle's contents, so uploading the
    same files twice (zipped or not) gives the same version.
    """

    part = models.ForeignKey(ProjectPart, on_delete=models.CASCADE, related_name="harnesses")
    sha256 = models.CharField(max_length=64)
    path = models.CharField(max_length=300, help_text="Relative to HARNESS_ROOT")
    name = models.CharField(max_length=120)
    label = models.CharField(max_length=60, blank=True, help_text='harness.toml "version"')
    points = models.DecimalField(max_digits=8, decimal_places=2)
    gpus = models.PositiveSmallIntegerField(default=0)
    predict_timeout_s = models.FloatField()
    score_timeout_s = models.FloatField()
    memory_mb = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["part", "-uploaded_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["part", "sha256"], name="one_bundle_per_digest")]

    def __str__(self) -> str:
        return f"{self.name} {self.label or self.sha256[:12]}"


class Team(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(max_length=80)
    join_code = models.CharField(max_length=16, unique=True, help_text="Teammates join with this code")
    created_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="unique_team_name")]

    def __str__(self) -> str:
        return self.name


class TeamMembership(models.Model):
    """A period of one student's membership of a team; leaving closes it (history is kept)."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")  # = team.project
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="team_memberships")
    joined_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    removed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["team", "joined_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "user"], condition=Q(left_at__isnull=True), name="one_current_team_per_project"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.team}"


class Submission(models.Model):
    """One upload by a team for a part.  The file is stored before any grading job is queued.

    ``team`` and ``members`` are the team as it was when submitting: a student
    who later leaves keeps these submissions (and their grade) in their history.
    """

    part = models.ForeignKey(ProjectPart, on_delete=models.CASCADE, related_name="submissions")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="submissions")
    submitter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="project_submissions")
    number = models.PositiveIntegerField(help_text="1, 2, … per team and part")
    submitted_at = models.DateTimeField()
    path = models.CharField(max_length=300, help_text="Relative to SUBMISSIONS_ROOT")
    original_name = models.CharField(max_length=255)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, help_text="Of the stored file's bytes")
    files = models.JSONField(default=list, help_text="Paths inside the archive")
    via = models.CharField(max_length=10, default="web", help_text="web or api")

    class Meta:
        ordering = ["-submitted_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["part", "team", "number"], name="unique_submission_number")]
        indexes = [models.Index(fields=["part", "team", "submitted_at"])]

    def __str__(self) -> str:
        return f"{self.team} #{self.number} for {self.part}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"  # both steps ran and the code exited normally
    FAILED = "failed", "Failed"  # the student's code crashed or hit a limit; scored by the harness
    TIMED_OUT = "timed_out", "Timed out"  # the student's code ran out of time; scored by the harness
    ERROR = "error", "Error"  # harness or infrastructure failure: no score


TERMINAL_STATUSES = (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT, RunStatus.ERROR)


class GradingRun(models.Model):
    """One grading of one submission by one harness version (a rerun is another row)."""

    submission = models.ForeignKey(Submission, on_delete=models.CASCADE, related_name="runs")
    harness = models.ForeignKey(HarnessBundle, on_delete=models.PROTECT, related_name="runs")
    status = models.CharField(max_length=12, choices=RunStatus.choices, default=RunStatus.QUEUED)
    queue = models.CharField(max_length=20, help_text="cpu, gpu or rerun")
    priority = models.PositiveSmallIntegerField(default=5, help_text="Celery priority, 0 (first) … 9")
    is_rerun = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Times a worker started it")
    time_limit_s = models.FloatField(help_text="Hard limit of one attempt (Celery time_limit), seconds")
    queued_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True, help_text="Last time its task was sent to the broker")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    worker_pid = models.PositiveIntegerField(null=True, blank=True)
    gpu_index = models.SmallIntegerField(null=True, blank=True)
    gpu_name = models.CharField(max_length=120, blank=True)
    peak_memory_mb = models.FloatField(null=True, blank=True)
    exit_code = models.IntegerField(null=True, blank=True, help_text="Of the predict step (the student's code)")
    limit_hit = models.CharField(max_length=40, blank=True)
    harness_version = models.CharField(max_length=64, blank=True)
    submission_sha256 = models.CharField(max_length=64, blank=True, help_text="Runner's digest of the unpacked files")
    env_digest = models.CharField(max_length=64, blank=True, help_text="The harness's [environment] digest, if any")
    dataset_versions = models.JSONField(default=dict, blank=True, help_text="[data] mount -> {name, version}")
    score = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True, help_text="Harness points")
    max_score = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    send_error = models.CharField(
        max_length=500, blank=True, help_text="Why the last send to the broker failed (cleared by a good send)"
    )
    notice = models.CharField(
        max_length=300, blank=True, help_text="Why the run is queued again, as shown to the student"
    )
    error = models.TextField(blank=True, help_text="Why it failed, as shown to the student")
    log = models.TextField(blank=True, help_text="Runner's progress lines (bounded)")
    stdout = models.TextField(blank=True, help_text="Predict and score steps' output, ≤ 1 MB")
    stderr = models.TextField(blank=True, help_text="≤ 1 MB")
    results = models.JSONField(null=True, blank=True, help_text="The runner's record (tests, steps, durations)")

    class Meta:
        ordering = ["-queued_at", "-id"]
        indexes = [models.Index(fields=["status", "queue"]), models.Index(fields=["submission", "-id"])]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.submission} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES


class RubricCriterion(models.Model):
    part = models.ForeignKey(ProjectPart, on_delete=models.CASCADE, related_name="criteria")
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    points = models.DecimalField(max_digits=8, decimal_places=2)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["part", "position", "id"]

    def __str__(self) -> str:
        return f"{self.title} ({self.points})"


class RubricGrade(models.Model):
    """A TA's hand grading of one submission; its total combines with the autograde score."""

    submission = models.OneToOneField(Submission, on_delete=models.CASCADE, related_name="rubric_grade")
    total = models.DecimalField(max_digits=8, decimal_places=2)
    comment = models.TextField(blank=True)
    graded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    graded_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"Rubric of {self.submission}: {self.total}"


class RubricMark(models.Model):
    grade = models.ForeignKey(RubricGrade, on_delete=models.CASCADE, related_name="marks")
    criterion = models.ForeignKey(RubricCriterion, on_delete=models.CASCADE, related_name="+")
    points = models.DecimalField(max_digits=8, decimal_places=2)
    comment = models.TextField(blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["grade", "criterion"], name="one_mark_per_criterion")]

    def __str__(self) -> str:
        return f"{self.criterion_id}: {self.points}"


class EnvState(models.TextChoices):
    BUILDING = "building", "Building"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


class HarnessEnvironment(models.Model):
    """What one node reports about building a harness's [environment] (docs/harness.md).

    The environment itself lives in the node's ENV_ROOT, keyed by ``digest``; a
    GPU node (CUDA index) and a CPU node get different digests, hence one row
    per (bundle, digest, node).
    """

    bundle = models.ForeignKey(HarnessBundle, on_delete=models.CASCADE, related_name="environments")
    digest = models.CharField(max_length=64)
    node = models.CharField(max_length=200, help_text="Host that built it")
    index = models.CharField(max_length=10, help_text="cpu or cuda")
    state = models.CharField(max_length=10, choices=EnvState.choices, default=EnvState.BUILDING)
    log = models.TextField(blank=True, help_text="The installer's output (last 64 KB)")
    error = models.TextField(blank=True, help_text="The resolver's or installer's message, with the line to fix")
    python = models.CharField(max_length=20, blank=True)
    packages = models.JSONField(default=list, blank=True, help_text="name==version lines")
    size_bytes = models.BigIntegerField(null=True, blank=True)
    build_s = models.FloatField(null=True, blank=True)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["bundle", "-started_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["bundle", "digest", "node"], name="one_env_row_per_node")]

    def __str__(self) -> str:
        return f"{self.bundle} env {self.digest[:12]} on {self.node} ({self.state})"


class Dataset(models.Model):
    """A named, content-addressed, read-only tree a harness mounts at /data/<name> (docs/harness.md).

    ``version`` is the SHA-256 over its files (paths and contents); a new upload
    with other files is a new version, and harnesses use the newest unless they
    pin one (``name@<version prefix>``).  The files are kept as an archive under
    DATASET_ROOT; workers fetch and verify it once per node.
    """

    course = models.ForeignKey(Course, on_delete=models.CASCADE, related_name="datasets")
    name = models.CharField(max_length=64)
    version = models.CharField(max_length=64)
    path = models.CharField(max_length=300, help_text="Relative to DATASET_ROOT")
    size_bytes = models.BigIntegerField(help_text="Unpacked")
    file_count = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    uploaded_at = models.DateTimeField()

    class Meta:
        ordering = ["course", "name", "-uploaded_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["course", "name", "version"], name="one_dataset_version")]

    def __str__(self) -> str:
        return f"{self.name}@{self.version[:12]}"


class TrialStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"  # the harness scored the sample
    FAILED = "failed", "Failed"  # the harness, the sample or the machine failed: see error and log


class HarnessTrial(models.Model):
    """An instructor's test-run of one harness version against a sample submission, before (or after) it goes live.

    Nothing of it reaches a student or the gradebook.  The sample is kept under
    HARNESS_ROOT/trials/ (``sample_path``); the record is the runner's, in full.
    """

    bundle = models.ForeignKey(HarnessBundle, on_delete=models.CASCADE, related_name="trials")
    sample_name = models.CharField(max_length=255, help_text="The uploaded sample's file name(s)")
    sample_path = models.CharField(max_length=300, help_text="Relative to HARNESS_ROOT")
    status = models.CharField(max_length=12, choices=TrialStatus.choices, default=TrialStatus.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_at = models.DateTimeField()
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    score = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True, help_text="Harness points")
    max_score = models.DecimalField(max_digits=10, decimal_places=4, null=True, blank=True)
    error = models.TextField(blank=True)
    log = models.TextField(blank=True, help_text="Runner's progress lines")
    results = models.JSONField(null=True, blank=True, help_text="The runner's record")

    class Meta:
        ordering = ["-requested_at", "-id"]

    def __str__(self) -> str:
        return f"Trial {self.pk} of {self.bundle} on {self.sample_name} ({self.status})"
