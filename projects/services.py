"""Writes of the project app: teams, harness bundles, submissions, grading runs, rubric grades.

The same functions serve the pages, the API, the management commands and the
Celery tasks (STYLE.md).  Errors a person can fix raise ``ProjectError`` with a
message saying what to do.  Every write is transactional; grading jobs are sent
to the broker only in ``transaction.on_commit`` so a worker never sees a row
that was rolled back (a crash between commit and send is caught by the sweep).

Run lifecycle (see docs/projects.md):

    queued --claim--> running --record--> succeeded | failed | timed_out | error
       ^                 |  infrastructure error (attempts < PROJECTS_MAX_ATTEMPTS)
       +-----------------+  or the sweep finds its worker dead

Every state change of a run is a conditional UPDATE keyed on (status,
attempts), so a duplicate delivery, a retried task or an orphaned worker that
wakes up late cannot record a result twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import secrets
import socket
import threading
import time
import traceback
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from courseapp.models import Membership, Role, User
from courseapp.numbers import PointsError, parse_points
from grading.services import grade_post
from projects.runner.archive import ArchiveError, check_archive
from projects.runner.harness import HarnessError, load_harness

from . import calculations, lifecycle, selectors, storage
from .gpus import WorkerInfo
from .lifecycle import DB_ERRORS, db_retry, run_send
from .models import (
    GradingRun,
    HarnessBundle,
    Project,
    ProjectPart,
    RubricCriterion,
    RubricGrade,
    RubricMark,
    RunStatus,
    Submission,
    Team,
    TeamMembership,
)

log = logging.getLogger(__name__)

MB = 1024 * 1024
STD_MAX_BYTES = 1 * MB  # stdout and stderr kept per run
LOG_MAX_BYTES = 64 * 1024  # the live progress log
ARCHIVE_MAX_FILES = 1000
ARCHIVE_MAX_UNPACKED_MB = 500
# Celery priority, 0 served first (Redis keeps lists for 0, 3, 6 and 9).  A run queued again
# after its worker died or failed moves up one step (lifecycle.REQUEUED), so it keeps its place
# ahead of the first attempts that queued after it.
STUDENT_PRIORITY = 3
RERUN_PRIORITY = 6


def _setting(name: str, default):
    return getattr(settings, name, default)


def heartbeat_s() -> float:
    """How often a worker tells the database its run is alive (seconds)."""
    return float(_setting("PROJECTS_HEARTBEAT_S", 10))


def stale_after_s() -> float:
    """A running run whose heartbeat is older than this is considered dead (seconds)."""
    return float(_setting("PROJECTS_STALE_AFTER_S", 45))


def resend_after_s() -> float:
    """A queued run whose job was sent longer ago than this is sent again (seconds)."""
    return float(_setting("PROJECTS_RESEND_AFTER_S", 300))


def max_attempts() -> int:
    return int(_setting("PROJECTS_MAX_ATTEMPTS", 3))


def db_retry_s() -> float:
    """How long a worker keeps retrying a claim or a record while the database is unreachable (seconds)."""
    return float(_setting("PROJECTS_DB_RETRY_S", 60))


def visibility_timeout_s() -> float:
    options = _setting("CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    return float(options.get("visibility_timeout", 3600))


class ProjectError(Exception):
    """Something the person asking can fix; the message says what."""


def _lock(model, pk: int):
    """Lock one row for the rest of the transaction and return it.

    PostgreSQL: SELECT … FOR UPDATE.  SQLite has no row locks and its deferred
    transactions fail with "database is locked" when they read, then write while
    another process (a worker) wrote; a no-op UPDATE first takes its write lock,
    waiting up to the busy timeout.
    """
    if connection.vendor == "sqlite":
        model.objects.filter(pk=pk).update(id=pk)
        return model.objects.get(pk=pk)
    return model.objects.select_for_update().get(pk=pk)


# --- Teams ------------------------------------------------------------------------


def _is_student(project: Project, user: User) -> bool:
    return Membership.objects.filter(
        course=project.course_id, user=user, role=Role.STUDENT, is_active=True
    ).exists()


def _check_teams_open(project: Project) -> None:
    if project.teams_locked:
        raise ProjectError("Teams are locked for this project; ask the instructor to change your team.")


def _check_room(team: Team, project: Project) -> None:
    size = TeamMembership.objects.filter(team=team, left_at__isnull=True).count()
    if size >= project.team_size:
        raise ProjectError(
            f"Team “{team.name}” already has {size} members, the most this project allows "
            f"({project.team_size}); join another team or create your own."
        )


def _join(*, team: Team, user: User, by: User, now: dt.datetime) -> TeamMembership:
    try:
        with transaction.atomic():
            return TeamMembership.objects.create(
                team=team, project_id=team.project_id, user=user, joined_at=now, added_by=by
            )
    except IntegrityError:
        raise ProjectError(f"{user} is already in a team of this project; leave it first.") from None


@transaction.atomic
def team_create(*, project: Project, name: str, by: User, join: bool = True,
                now: dt.datetime | None = None) -> Team:
    """Create a team; a student creating one joins it (``join``); the instructor creates empty teams.

    Raises ProjectError for an empty or taken name, locked teams, or a student already in a team.
    """
    now = now or timezone.now()
    name = " ".join(name.split())
    if not name:
        raise ProjectError("Give your team a name.")
    if len(name) > 80:
        raise ProjectError("Team names have at most 80 characters; choose a shorter one.")
    if join:
        _check_teams_open(project)
        if selectors.current_membership(project=project, user=by):
            raise ProjectError("You are already in a team of this project; leave it first.")
    if Team.objects.filter(project=project, name__iexact=name).exists():
        raise ProjectError(f"A team named “{name}” already exists; choose another name.")
    team = Team.objects.create(project=project, name=name, join_code=secrets.token_hex(4).upper(),
                               created_at=now, created_by=by)
    if join:
        _join(team=team, user=by, by=by, now=now)
    return team


@transaction.atomic
def team_join(*, project: Project, code: str, user: User, now: dt.datetime | None = None) -> Team:
    """A student joins the team whose join code they were given."""
    now = now or timezone.now()
    _check_teams_open(project)
    code = code.strip().upper()
    team = Team.objects.filter(project=project, join_code=code).first()
    if team is not None:
        team = _lock(Team, team.pk)  # two students joining at once cannot overfill it
    if team is None:
        raise ProjectError(
            f"No team of {project.name} has the code “{code}”; ask your teammate to copy it from their team page."
        )
    current = selectors.current_membership(project=project, user=user)
    if current is not None:
        raise ProjectError(f"You are already in team “{current.team.name}”; leave it first.")
    _check_room(team, project)
    _join(team=team, user=user, by=user, now=now)
    return team


@transaction.atomic
def team_leave(*, project: Project, user: User, by: User | None = None, now: dt.datetime | None = None) -> Team:
    """End ``user``'s current team membership; their past submissions stay theirs."""
    now = now or timezone.now()
    by = by or user
    if by == user:
        _check_teams_open(project)
    membership = selectors.current_membership(project=project, user=user)
    if membership is None:
        raise ProjectError("You are not in a team of this project.")
    membership.left_at = now
    membership.removed_by = by
    membership.save(update_fields=["left_at", "removed_by"])
    return membership.team


@transaction.atomic
def team_assign(*, project: Project, student: User, team: Team | None, by: User,
                now: dt.datetime | None = None) -> TeamMembership | None:
    """The instructor puts ``student`` in ``team`` (None: in no team), ending any current membership.

    Works when teams are locked; still keeps to the project's team size.
    """
    now = now or timezone.now()
    if not _is_student(project, student):
        raise ProjectError(f"{student} is not a student of this course.")
    current = selectors.current_membership(project=project, user=student)
    if current is not None and team is not None and current.team_id == team.pk:
        return current
    if team is not None:
        if team.project_id != project.pk:
            raise ProjectError("That team belongs to another project.")
        _check_room(team, project)
    if current is not None:
        current.left_at = now
        current.removed_by = by
        current.save(update_fields=["left_at", "removed_by"])
    if team is None:
        return None
    return _join(team=team, user=student, by=by, now=now)


# --- Harness bundles ------------------------------------------------------------------


@transaction.atomic
def harness_upload(*, part: ProjectPart, source, by: User | None, now: dt.datetime | None = None,
                   filename: str = "harness.zip") -> HarnessBundle:
    """Validate a harness (an uploaded zip, a zip path or a folder path) and make it the part's current one.

    The same contents uploaded again reuse their version (matched by the
    runner's digest).  Raises ProjectError with the runner's reason when the
    bundle is invalid, when its time limits do not fit under the broker's
    visibility timeout, or when its points are not positive.
    """
    now = now or timezone.now()
    root = storage.harness_root()
    staged = storage.new_staging_file(root, suffix=".zip")
    try:
        if isinstance(source, str | Path) and Path(source).is_dir():
            storage.zip_folder(Path(source), staged)
        elif isinstance(source, str | Path):
            storage.remove(staged)
            staged = storage.new_staging_file(root, suffix=".zip")
            with open(source, "rb") as fh:
                storage.write_upload(fh, staged)
        else:
            storage.write_upload(source, staged)
        try:
            harness = load_harness(staged)
        except HarnessError as exc:
            raise ProjectError(f"The harness {filename} was refused: {exc}") from None
        limits = calculations.run_time_limits(
            predict_timeout_s=harness.predict.timeout_s, score_timeout_s=harness.score.timeout_s
        )
        if not limits.fits(visibility_timeout_s()):
            raise ProjectError(
                f"The harness's timeouts (predict {harness.predict.timeout_s:g} s + score "
                f"{harness.score.timeout_s:g} s) with the workers' margins need {limits.stuck_after_s:g} s, "
                f"more than the broker's visibility timeout ({visibility_timeout_s():g} s); lower timeout_s "
                "in harness.toml or raise CELERY_VISIBILITY_TIMEOUT."
            )
        bundle = HarnessBundle.objects.filter(part=part, sha256=harness.sha256).first()
        if bundle is None:
            rel = f"{part.course.code}/{part.slug}/{harness.sha256}.zip"
            storage.move_into(staged, root, rel)
            staged = None
            bundle = HarnessBundle.objects.create(
                part=part, sha256=harness.sha256, path=rel, name=harness.name, label=harness.version,
                points=calculations.to_points(harness.points), gpus=harness.gpus,
                predict_timeout_s=harness.predict.timeout_s, score_timeout_s=harness.score.timeout_s,
                memory_mb=harness.memory_mb, uploaded_by=by, uploaded_at=now,
            )
        part.harness = bundle
        part.save(update_fields=["harness"])
        if harness.environment is not None:  # build it now, so the first submission need not wait
            from .tasks import build_environment

            queue, pk = ("gpu" if bundle.gpus else "cpu"), bundle.pk
            transaction.on_commit(lambda: build_environment.apply_async(args=[pk, bool(bundle.gpus)], queue=queue))
        return bundle
    finally:
        storage.remove(staged)


# --- Submissions -------------------------------------------------------------------


def _check_window(part: ProjectPart, now: dt.datetime) -> None:
    if part.opens_at and now < part.opens_at:
        when = timezone.localtime(part.opens_at).strftime("%d %b %Y %H:%M")
        raise ProjectError(f"{part.name} opens for submissions on {when}.")
    if part.closes_at and now > part.closes_at:
        when = timezone.localtime(part.closes_at).strftime("%d %b %Y %H:%M")
        raise ProjectError(f"{part.name} closed for submissions on {when}; late submissions are no longer accepted.")


def _stage_upload(part: ProjectPart, uploads: Sequence) -> tuple[Path, str, bool]:
    """Write the upload(s) into one staged file; returns (path, original name, is_zip)."""
    root = storage.submissions_root()
    names = [Path(getattr(u, "name", "") or "upload").name for u in uploads]
    if len(uploads) == 1 and names[0].lower().endswith(".zip"):
        staged = storage.new_staging_file(root, suffix=".zip")
        storage.write_upload(uploads[0], staged)
        return staged, names[0], True
    if len(uploads) == 1 and not part.autograded:
        suffix = Path(names[0]).suffix.lower()
        allowed = [e.strip().lower() for e in part.accepted_files.split(",") if e.strip()]
        if allowed and suffix not in allowed:
            raise ProjectError(f"{part.name} accepts {', '.join(allowed)} files (or a .zip); "
                               f"“{names[0]}” is not one of them.")
        staged = storage.new_staging_file(root, suffix=suffix)
        storage.write_upload(uploads[0], staged)
        return staged, names[0], False
    if len(set(names)) != len(names):
        raise ProjectError("Two of the files have the same name; rename one, or upload one .zip of your folder.")
    # Several files (or one source file): packed into a zip so the runner sees a folder.
    parts = []
    try:
        for upload, name in zip(uploads, names, strict=True):
            path = storage.new_staging_file(root)
            storage.write_upload(upload, path)
            parts.append((name, path))
        staged = storage.new_staging_file(root, suffix=".zip")
        storage.zip_files(parts, staged)
    finally:
        for _, path in parts:
            storage.remove(path)
    return staged, names[0] if len(names) == 1 else f"{len(names)} files", True


def submission_create(*, part: ProjectPart, user: User, uploads: Sequence, via: str = "web",
                      now: dt.datetime | None = None) -> Submission:
    """Accept a team's upload for ``part``: check it, store it, then (on commit) queue its grading.

    ``uploads``: one .zip, or files that are packed into a zip (a hand-graded
    part also takes one file of its accepted types).  The file is stored and
    the submission row committed before any job is sent to the broker.
    Raises ProjectError (nothing stored) for: no team, part not open or closed,
    no harness yet, an upload over the project's size limit, an archive the
    runner refuses (its reason is shown), or the team's daily limit reached.
    """
    now = now or timezone.now()
    project = part.project
    if not uploads:
        raise ProjectError("Choose a file to upload (a .zip of your code, or the files themselves).")
    _check_window(part, now)
    if part.autograded and part.harness_id is None:
        raise ProjectError(f"{part.name} does not accept submissions yet: its autograder is not set up. "
                           "Try again later or ask the course staff.")
    membership = selectors.current_membership(project=project, user=user)
    if membership is None:
        raise ProjectError(f"Join or create a team for {project.name} before submitting (see the Team page).")
    limit_bytes = project.max_upload_mb * MB
    total = sum(getattr(u, "size", 0) or 0 for u in uploads)
    if total > limit_bytes:
        raise ProjectError(
            f"The upload is {total / MB:.1f} MB; the limit is {project.max_upload_mb} MB. Leave out "
            "datasets, checkpoints and other large files (the harness provides its own data)."
        )
    staged, original, is_zip = _stage_upload(part, uploads)
    try:
        size = staged.stat().st_size
        if size > limit_bytes:
            raise ProjectError(f"The upload is {size / MB:.1f} MB; the limit is {project.max_upload_mb} MB.")
        files: list[str] = [original]
        if is_zip:
            try:
                summary = check_archive(staged, max_files=ARCHIVE_MAX_FILES, max_bytes=ARCHIVE_MAX_UNPACKED_MB * MB)
            except ArchiveError as exc:
                raise ProjectError(f"The archive was refused: {exc.message}") from None
            files = list(summary.paths)
        digest = storage.sha256_of(staged)
        with transaction.atomic():
            team = _lock(Team, membership.team_id)  # one submission per team at a time: the limit holds
            limit = project.daily_submission_limit
            if limit:
                since = calculations.local_day_start(now, tz=part.course.time_zone)
                used = selectors.submissions_today(part=part, team=team, since=since)
                if used >= limit:
                    raise ProjectError(
                        f"Your team has used all {limit} submissions for {part.name} today; the limit resets "
                        "at midnight (Istanbul time). Test locally with the public data meanwhile."
                    )
            number = (Submission.objects.filter(part=part, team=team).aggregate(n=Max("number"))["n"] or 0) + 1
            suffix = ".zip" if is_zip else Path(original).suffix.lower()
            rel = f"{part.course.code}/{part.slug}/team-{team.pk}/{number:03d}-{digest[:12]}{suffix}"
            storage.move_into(staged, storage.submissions_root(), rel)
            staged = storage.submission_abspath(rel)  # removed again if the transaction fails
            submission = Submission.objects.create(
                part=part, team=team, submitter=user, number=number, submitted_at=now, path=rel,
                original_name=original[:255], size_bytes=size, sha256=digest, files=files[:ARCHIVE_MAX_FILES],
                via=via,
            )
            submission.members.set(selectors.current_members(team=team))
            if part.autograded:
                run_create(submission=submission, harness=part.harness, now=now)
        staged = None
        return submission
    finally:
        storage.remove(staged)


# --- Grading runs --------------------------------------------------------------------


def run_create(*, submission: Submission, harness: HarnessBundle, rerun: bool = False,
               by: User | None = None, now: dt.datetime | None = None) -> GradingRun:
    """Make a queued run and send its job when the caller's transaction commits.

    Students' runs go to the ``gpu`` or ``cpu`` queue (by the harness's
    ``gpus``); reruns go to ``rerun`` with a lower priority, so separate
    workers serve them and they never delay students' feedback.
    """
    now = now or timezone.now()
    limits = calculations.run_time_limits(
        predict_timeout_s=harness.predict_timeout_s, score_timeout_s=harness.score_timeout_s
    )
    queue = "rerun" if rerun else ("gpu" if harness.gpus else "cpu")
    run = GradingRun.objects.create(
        submission=submission, harness=harness, queue=queue,
        priority=RERUN_PRIORITY if rerun else STUDENT_PRIORITY, is_rerun=rerun, requested_by=by,
        time_limit_s=limits.hard_s, queued_at=now,
    )
    run_pk = run.pk
    # run_send never raises for a broker that is down (lifecycle.py); robust=True also keeps any
    # other surprise from turning a committed submission into a 500.
    transaction.on_commit(lambda: run_send(run_id=run_pk), robust=True)
    return run


@transaction.atomic
def submission_rerun(*, submission: Submission, by: User) -> GradingRun:
    """Grade a submission again with its part's current harness, on the rerun queue."""
    part = submission.part
    if not part.autograded or part.harness_id is None:
        raise ProjectError(f"{part.name} has no autograder harness to rerun with; upload one first.")
    return run_create(submission=submission, harness=part.harness, rerun=True, by=by)


@transaction.atomic
def part_rerun(*, part: ProjectPart, by: User) -> int:
    """Rerun every submission of ``part`` (after fixing its harness). Returns how many runs were queued."""
    if not part.autograded or part.harness_id is None:
        raise ProjectError(f"{part.name} has no autograder harness to rerun with; upload one first.")
    count = 0
    for submission in Submission.objects.filter(part=part).order_by("submitted_at", "id"):
        run_create(submission=submission, harness=part.harness, rerun=True, by=by)
        count += 1
    return count


@dataclasses.dataclass(frozen=True)
class Claim:
    run: GradingRun | None  # the run to grade now, or None
    attempt: int = 0
    retry_in: float | None = None  # another worker seems to hold it: check back after this many seconds


def _alive(run: GradingRun, *, now: dt.datetime, me: WorkerInfo | None = None) -> bool:
    """Whether the worker that holds a running run still seems to be at it."""
    if run.worker_pid and run.worker_host:
        host = run.worker_host.rsplit("@", 1)[-1]
        local = me.machine if me else socket.gethostname()
        if host == local and not _pid_alive(run.worker_pid):
            return False
    beat = run.heartbeat_at or run.started_at
    if beat is None:
        return False
    # A worker cannot beat while the database is down: count from when it came back, not from its last beat.
    back = lifecycle.db_back_at()
    if back is not None and back > beat:
        beat = min(back, now)
    return (now - beat).total_seconds() < stale_after_s()


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this machine runs (a zombie nobody reaped counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def run_claim(*, run_id: int, worker: WorkerInfo, task_id: str = "", now: dt.datetime | None = None) -> Claim:
    """Mark a run running for this worker, unless it is finished or alive elsewhere.

    The UPDATE is conditional on the status and attempt count seen, so of two
    deliveries of one job only one gets the run.  A run held by a dead worker
    (its process gone, or its heartbeat stale) is taken over as a new attempt.
    A run that used up its attempts ends as an error.
    """
    now = now or timezone.now()
    run = GradingRun.objects.select_related("harness", "submission").filter(pk=run_id).first()
    if run is None or run.is_terminal:
        return Claim(run=None)
    if (run.status == RunStatus.RUNNING and task_id and run.task_id == task_id[:64]
            and run.worker_pid == worker.pid and run.worker_host == worker.host[:200]):
        return Claim(run=run, attempt=run.attempts)  # our own claim, whose reply a dropped connection lost
    if run.status == RunStatus.RUNNING and _alive(run, now=now, me=worker):
        return Claim(run=None, retry_in=stale_after_s())
    if run.attempts >= max_attempts():
        _finish_gave_up(run, now=now)
        return Claim(run=None)
    attempt = run.attempts + 1
    taken_over = {}
    if run.status == RunStatus.RUNNING:  # its worker died and the broker redelivered the job
        taken_over = dict(priority=lifecycle.REQUEUED, notice=lifecycle.requeue_notice(
            attempt_done=run.attempts, max_attempts=max_attempts(), why=lifecycle.WORKER_LOST, running=True))
    claimed = GradingRun.objects.filter(pk=run.pk, status=run.status, attempts=run.attempts).update(
        **taken_over,
        status=RunStatus.RUNNING, attempts=attempt, started_at=now, heartbeat_at=now, finished_at=None,
        worker_host=worker.host[:200], worker_pid=worker.pid, gpu_index=worker.gpu_index,
        gpu_name=worker.gpu_name[:120], task_id=task_id[:64] or run.task_id,
    )
    if not claimed:
        return Claim(run=None, retry_in=stale_after_s())
    run = GradingRun.objects.select_related("harness", "submission").get(pk=run.pk)
    return Claim(run=run, attempt=attempt)


def _finish_gave_up(run: GradingRun, *, now: dt.datetime) -> None:
    GradingRun.objects.filter(pk=run.pk, status=run.status, attempts=run.attempts).update(
        status=RunStatus.ERROR, finished_at=now,
        error=f"Grading failed on the workers {run.attempts} times; the course staff has to rerun it.",
    )


class _Progress:
    """The run's live log (runner stage lines) and heartbeat, written only while this attempt holds the run."""

    def __init__(self, run_id: int, attempt: int, *, threaded: bool, earlier: str = "") -> None:
        self.run_id, self.attempt = run_id, attempt
        # A later attempt keeps the earlier attempts' lines above its own, so the student sees what happened.
        self.lines: list[str] = [earlier.rstrip("\n"), f"----- attempt {attempt} -----"] if earlier else []
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._beat, daemon=True) if threaded else None

    def text(self) -> str:
        with self.lock:
            return calculations.cap_text("\n".join(self.lines), max_bytes=LOG_MAX_BYTES)

    def add(self, line: str) -> None:
        stamp = timezone.localtime().strftime("%H:%M:%S")
        with self.lock:
            self.lines.append(f"{stamp} {line}")
        if self.thread is None:  # eager (tests): write in this thread
            self._write()

    def _write(self) -> None:
        GradingRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING, attempts=self.attempt).update(
            heartbeat_at=timezone.now(), log=self.text()
        )

    def _beat(self) -> None:
        """Every second: write new log lines at once, and the heartbeat every PROJECTS_HEARTBEAT_S.

        Survives anything: a database error drops the connection and retries on a
        fresh one after 1, 2, 4, then 5 s, so beats resume within seconds of the
        database coming back; any other error is logged and the next beat goes on.
        """
        written, last, wait, failures = -1, 0.0, 1.0, 0
        try:
            while not self.stop_event.wait(wait):
                with self.lock:
                    count = len(self.lines)
                if count == written and time.monotonic() - last < heartbeat_s():
                    continue
                try:
                    self._write()
                except Exception as exc:  # the heartbeat must never take the job down with it
                    failures += 1
                    if isinstance(exc, DB_ERRORS):
                        lifecycle.drop_connection()
                        log.warning("heartbeat of run %s: database unreachable (%s)", self.run_id, exc)
                    else:
                        log.exception("heartbeat of run %s failed", self.run_id)
                    wait = min(5.0, 2.0 ** (failures - 1))
                    continue
                written, last, wait, failures = count, time.monotonic(), 1.0, 0
        finally:
            lifecycle.drop_connection()

    def __enter__(self) -> _Progress:
        if self.thread is not None:
            self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


@dataclasses.dataclass(frozen=True)
class Executed:
    run_id: int
    status: str | None  # the run's status after this call; None if it was not ours to run
    retry_in: float | None = None  # set when another worker holds the run


def run_execute(*, run_id: int, worker: WorkerInfo, task_id: str = "", threaded: bool = True) -> Executed:
    """The whole job of a worker: claim the run, grade it with the runner, record the result.

    A duplicate delivery of a finished run does nothing.  The runner's own work
    folder is removed in its ``finally``; a Celery soft time limit ends the
    attempt as timed out.  ``threaded``: write the heartbeat from a background
    thread (real workers); False writes progress inline (eager tests).
    """
    from projects import datasets, environments  # imported here: they pull in the runner
    from projects.runner.runner import grade

    pending = GradingRun.objects.select_related("harness", "submission__part").filter(
        pk=run_id, status=RunStatus.QUEUED).first()
    if pending is not None:  # its harness's environment is being built on this node: stay queued
        wait = environments.run_wait_s(run=pending, gpu=worker.gpu_index is not None and bool(pending.harness.gpus),
                                       threaded=threaded)
        if wait is not None:
            return Executed(run_id=run_id, status=RunStatus.QUEUED, retry_in=wait)
    # Raises a DB error only when the database stayed unreachable for db_retry_s(): the task then
    # retries (the job is not acknowledged as done).
    claim = db_retry(lambda: run_claim(run_id=run_id, worker=worker, task_id=task_id),
                     what=f"claiming run {run_id}", deadline_s=min(db_retry_s(), 20.0))
    if claim.run is None:
        return Executed(run_id=run_id, status=None, retry_in=claim.retry_in)
    run = claim.run
    harness_path = storage.harness_abspath(run.harness.path)
    submission_path = storage.submission_abspath(run.submission.path)
    work_root = lifecycle.process_work_root() if threaded else _setting("PROJECTS_WORK_ROOT", None)
    record: dict
    with _Progress(run.pk, claim.attempt, threaded=threaded, earlier=run.log if claim.attempt > 1 else "") as progress:
        progress.add(f"attempt {claim.attempt} on {worker.host}"
                     + (f", GPU {worker.gpu_index} ({worker.gpu_name})" if worker.gpu_index is not None else ""))
        try:
            harness = environments.bundle_harness(run.harness)
            record = grade(
                harness_path, submission_path, gpu=worker.gpu_index,
                work_root=Path(work_root) if work_root else None, on_log=progress.add,
                stores=environments.node_stores(),
                datasets=datasets.datasets_for(course=run.submission.part.course, harness=harness) if harness else {},
            ).as_dict()
        except SoftTimeLimitExceeded:
            record = {"status": "soft_time_limit",
                      "error": f"Grading took longer than its time limit ({run.time_limit_s:g} s) and was stopped."}
        except Exception as exc:  # a bug or a broken node: an infrastructure error, retried
            log.exception("grading run %s crashed", run.pk)
            record = {"status": "infrastructure_error", "error": f"{type(exc).__name__}: {exc}",
                      "traceback": traceback.format_exc()[-4000:]}
        # Recorded while the heartbeat still beats, so retrying a record never makes the run look dead.
        status = run_record_or_spool(run_id=run.pk, attempt=claim.attempt, record=record, log=progress.text())
    return Executed(run_id=run.pk, status=status)


def run_record_or_spool(*, run_id: int, attempt: int, record: dict, log: str) -> str | None:
    """Record a finished attempt, retrying on a fresh connection for db_retry_s(); else keep it in the spool.

    Grading work is never thrown away because the database was gone: the
    spooled record is posted by lifecycle.replay_spool (worker start, beat, the
    sweep).  Returns the run's new status, or None if it was not recorded now.
    """
    try:
        return db_retry(lambda: run_record(run_id=run_id, attempt=attempt, record=record, log=log),
                        what=f"recording run {run_id}", deadline_s=db_retry_s())
    except (*DB_ERRORS, SoftTimeLimitExceeded):  # the time limit may strike while retrying: keep the work
        lifecycle.spool_write(run_id=run_id, attempt=attempt, record=record, log_text=log)
        return None


def _std(record: dict, key: str) -> str:
    chunks = []
    for step in ("predict", "score_step"):
        data = record.get(step) or {}
        if data.get(key):
            chunks.append(f"===== {step.replace('_step', '')} step =====\n{data[key]}")
    return calculations.cap_text("\n".join(chunks), max_bytes=STD_MAX_BYTES)


def run_record(*, run_id: int, attempt: int, record: dict, log: str = "",
               now: dt.datetime | None = None, spooled: bool = False) -> str | None:
    """Store a runner record on the run and post the team's grades, in one transaction.

    Only the attempt that holds the run may record (conditional UPDATE on the
    attempt count): a late orphan gets None back and changes nothing.  A run the
    sweep put back in the queue that no other attempt has claimed yet (same
    attempt count) still takes this attempt's record: finished work is kept.
    An infrastructure error with attempts left puts the run back in the queue
    (sent on commit).  Texts shown to students lose server paths.  ``spooled``:
    the record comes from the spool (lifecycle.replay_spool).  Returns the run's
    new status.
    """
    now = now or timezone.now()
    if record.get("status") == "soft_time_limit":
        outcome = calculations.Outcome("timed_out", False, record["error"])
    else:
        outcome = calculations.run_outcome(record, attempts=attempt, max_attempts=max_attempts())
    predict = record.get("predict") or {}
    score_step = record.get("score_step") or {}
    peaks = [s.get("peak_memory_mb") for s in (predict, score_step) if s.get("peak_memory_mb") is not None]
    results = {k: v for k, v in record.items() if k not in ("predict", "score_step")}
    results["steps"] = {
        name: {k: v for k, v in data.items() if k not in ("stdout", "stderr")}
        for name, data in (("predict", predict), ("score", score_step)) if data
    }
    fields = dict(
        log=calculations.cap_text(log, max_bytes=LOG_MAX_BYTES), error=lifecycle.scrub_paths(outcome.error)[:20000],
        stdout=_std(record, "stdout"), stderr=_std(record, "stderr"), results=results,
        peak_memory_mb=max(peaks) if peaks else None, exit_code=predict.get("exit_code"),
        limit_hit=(predict.get("limit") or "")[:40], harness_version=record.get("harness_version", "")[:64],
        submission_sha256=record.get("submission_sha256", "")[:64],
        env_digest=((record.get("environment") or {}).get("digest") or "")[:64],
        dataset_versions=record.get("datasets") or {},
    )
    if spooled:
        fields["log"] = calculations.cap_text(f"{fields['log']}\n(recorded after the database came back)",
                                              max_bytes=LOG_MAX_BYTES)
    with transaction.atomic():
        held = GradingRun.objects.filter(pk=run_id, status__in=[RunStatus.RUNNING, RunStatus.QUEUED],
                                         attempts=attempt, attempts__gt=0)
        if outcome.retry:
            notice = lifecycle.requeue_notice(attempt_done=attempt, max_attempts=max_attempts(),
                                              why=lifecycle.INFRA_ERROR)
            if not held.update(status=RunStatus.QUEUED, started_at=None, heartbeat_at=None, notice=notice,
                               priority=lifecycle.REQUEUED, **fields):
                return None
            transaction.on_commit(lambda: run_send(run_id=run_id), robust=True)
            return RunStatus.QUEUED
        score = record.get("score") if record.get("status") == "completed" else None
        updated = held.update(
            status=outcome.status, finished_at=now, notice="",
            score=None if score is None else Decimal(str(score)),
            max_score=None if record.get("max_score") is None else Decimal(str(record["max_score"])),
            **fields,
        )
        if not updated:
            return None
        run = GradingRun.objects.select_related("submission__part__project", "submission__part__grade_item").get(
            pk=run_id)
        if score is not None:
            part_grades_post(part=run.submission.part, students=list(run.submission.members.all()),
                             reason=f"autograder: submission #{run.submission.number}, run {run.pk}")
    return outcome.status


def part_grades_post(*, part: ProjectPart, students: Sequence[User], by: User | None = None,
                     reason: str = "") -> dict[int, Decimal | None]:
    """Post each student's grade on ``part``: their counting submission's points (last or best).

    Idempotent: the gradebook keeps one grade and writes history only when
    something changed.  Students with no scored submission are left alone.
    Must run in the caller's transaction.  Returns student id -> raw points posted.
    """
    counting = selectors.counting_for_students(part=part, student_ids=[s.pk for s in students])
    posted = {}
    for student in students:
        score = counting.get(student.pk)
        if score is None or score.raw is None:
            posted[student.pk] = None
            continue
        source = "autograder" if score.run is not None else "rubric"
        grade_post(item=part.grade_item, student=student, raw_points=score.raw,
                   submitted_at=score.submission.submitted_at, source=source, by=by,
                   reason=reason or f"{part.name}: submission #{score.submission.number}")
        posted[student.pk] = score.raw
    return posted


# --- Rubric ----------------------------------------------------------------------------


@transaction.atomic
def rubric_grade_save(*, submission: Submission, marks: dict[int, tuple[Decimal | str | None, str]], comment: str,
                      by: User, now: dt.datetime | None = None) -> RubricGrade:
    """Save a TA's rubric marks (criterion id -> (points, comment)) and post the team's grades.

    Every criterion of the part needs a mark between 0 and its points.
    Raises ProjectError naming the criterion to fix.
    """
    now = now or timezone.now()
    submission = _lock(Submission, submission.pk)
    part = submission.part
    if not part.rubric_graded:
        raise ProjectError(f"{part.name} is not graded with a rubric.")
    criteria = list(RubricCriterion.objects.filter(part=part))
    if not criteria:
        raise ProjectError(f"{part.name} has no rubric criteria yet; the instructor adds them in the admin.")
    total = Decimal("0")
    clean: list[tuple[RubricCriterion, Decimal, str]] = []
    for criterion in criteria:
        if criterion.pk not in marks or marks[criterion.pk][0] is None:
            raise ProjectError(f"Give points for “{criterion.title}” (0 to {criterion.points}).")
        raw, note = marks[criterion.pk]
        try:  # the site's points parser: 1.5 or 1,5; a third decimal is refused, not rounded away
            points = parse_points(raw, what=f"Points for “{criterion.title}”")
        except PointsError as exc:
            raise ProjectError(str(exc)) from None
        if not Decimal("0") <= points <= criterion.points:
            raise ProjectError(f"“{criterion.title}” allows 0 to {criterion.points} points; you gave {points}.")
        total += points
        clean.append((criterion, points, note or ""))
    grade, _ = RubricGrade.objects.update_or_create(
        submission=submission,
        defaults={"total": total, "comment": comment, "graded_by": by, "graded_at": now},
    )
    for criterion, points, note in clean:
        RubricMark.objects.update_or_create(
            grade=grade, criterion=criterion, defaults={"points": points, "comment": note}
        )
    try:
        part_grades_post(part=part, students=list(submission.members.all()), by=by,
                         reason=f"rubric: submission #{submission.number}")
    except ValidationError as exc:
        raise ProjectError(" ".join(exc.messages)) from None
    return grade


# --- The sweep ----------------------------------------------------------------------------


@dataclasses.dataclass
class SweepReport:
    requeued: list[int] = dataclasses.field(default_factory=list)  # dead workers' runs, queued again
    failed: list[int] = dataclasses.field(default_factory=list)  # ended as error/timed out
    resent: list[int] = dataclasses.field(default_factory=list)  # queued runs whose job was sent again
    replayed: list[int] = dataclasses.field(default_factory=list)  # runs recorded from the spool


def sweep_stuck_runs(*, now: dt.datetime | None = None) -> SweepReport:
    """Find runs a dead worker or a lost message left behind, and move them on.

    - running past ``started_at + stuck_after_s`` (hard limit + margin): ended
      as timed out, so every run is terminal within its limit plus two minutes
      (this sweep runs every 60 s);
    - running with a dead worker (stale heartbeat, or its process gone on this
      machine): queued again as a new attempt, or ended as an error when its
      attempts are used up;
    - queued but sent longer than PROJECTS_RESEND_AFTER_S ago (or never, e.g.
      the web process died between commit and send): sent again; a duplicate
      job is harmless because claiming is conditional.  (lifecycle.send_pending
      finds unsent and lost jobs within seconds; this is the fallback for
      brokers it cannot inspect.)

    Records waiting in the spool are posted first, so a run whose grading
    finished while the database was down is never taken for dead; and a
    heartbeat counts from when the database came back (lifecycle.db_back_at),
    so an outage longer than PROJECTS_STALE_AFTER_S does not make every live
    run look dead.
    """
    now = now or timezone.now()
    report = SweepReport()
    report.replayed = lifecycle.replay_spool().posted
    for run in GradingRun.objects.filter(status=RunStatus.RUNNING).select_related("harness"):
        limits = calculations.run_time_limits(
            predict_timeout_s=run.harness.predict_timeout_s, score_timeout_s=run.harness.score_timeout_s
        )
        started = run.started_at or run.queued_at
        if (now - started).total_seconds() > limits.stuck_after_s:
            if GradingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts).update(
                status=RunStatus.TIMED_OUT, finished_at=now,
                error=f"Grading did not finish within its time limit ({limits.hard_s:g} s); "
                      "the worker was stopped. The course staff can rerun it.",
            ):
                report.failed.append(run.pk)
            continue
        if _alive(run, now=now):
            continue
        if run.attempts >= max_attempts():
            _finish_gave_up(run, now=now)
            report.failed.append(run.pk)
            continue
        notice = lifecycle.requeue_notice(attempt_done=run.attempts, max_attempts=max_attempts(),
                                          why=lifecycle.WORKER_LOST)
        with transaction.atomic():
            if GradingRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING, attempts=run.attempts).update(
                status=RunStatus.QUEUED, started_at=None, heartbeat_at=None, notice=notice,
                priority=lifecycle.REQUEUED,
            ):
                run_pk = run.pk
                transaction.on_commit(lambda run_pk=run_pk: run_send(run_id=run_pk), robust=True)
                report.requeued.append(run.pk)
    resend_before = now - dt.timedelta(seconds=resend_after_s())
    never_sent_before = now - dt.timedelta(seconds=60)
    stale_queued = GradingRun.objects.filter(status=RunStatus.QUEUED).filter(
        Q(sent_at__lt=resend_before) | Q(sent_at__isnull=True, queued_at__lt=never_sent_before)
    ).values_list("pk", flat=True)
    for run_id in list(stale_queued[:1000]):
        run_send(run_id=run_id)
        report.resent.append(run_id)
    return report

