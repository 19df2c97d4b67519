"""Submissions: a team's upload is checked, stored, and (on commit) queued for grading."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from courseapp.models import Role, User
from projects.runner.archive import ArchiveError, check_archive

from .. import calculations, selectors, storage
from ..models import ProjectPart, Submission, Team
from .base import ProjectError, lock_row, require_role
from .runs import run_create

MB = 1024 * 1024
ARCHIVE_MAX_FILES = 1000
ARCHIVE_MAX_UNPACKED_MB = 500


def _check_window(part: ProjectPart, now: dt.datetime) -> None:
    if part.opens_at and now < part.opens_at:
        when = timezone.localtime(part.opens_at).strftime("%Y-%m-%d %H:%M")
        raise ProjectError(f"{part.name} opens for submissions on {when}.")
    if part.closes_at and now > part.closes_at:
        when = timezone.localtime(part.closes_at).strftime("%Y-%m-%d %H:%M")
        raise ProjectError(f"{part.name} closed for submissions on {when}; late submissions are no longer accepted.")


def _stage_upload(part: ProjectPart, uploads: Sequence[UploadedFile]) -> tuple[Path, str, bool]:
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
    staged = storage.new_staging_file(root, suffix=".zip")
    try:
        storage.zip_uploads(uploads, names, root, staged)
    except BaseException:
        storage.remove(staged)
        raise
    return staged, names[0] if len(names) == 1 else f"{len(names)} files", True


def submission_create(*, part: ProjectPart, user: User, uploads: Sequence[UploadedFile], via: str = "web",
                      now: dt.datetime | None = None) -> Submission:
    """Accept a team's upload for ``part``: check it, store it, then (on commit) queue its grading.

    ``uploads``: one .zip, or files that are packed into a zip (a hand-graded
    part also takes one file of its accepted types).  The file is stored and
    the submission row committed before any job is sent to the broker.
    Raises ProjectError (nothing stored) for: no team, part not open or closed,
    no harness yet, an upload over the project's size limit, an archive the
    runner refuses (its reason is shown), or the team's daily limit reached.
    PermissionDenied unless ``user`` is a student of the course (staff try harnesses with
    ``manage.py grade_submission``).
    """
    require_role(user, part.course, (Role.STUDENT,),
                 "Only students submit; try a harness with `manage.py grade_submission`.")
    now = now or timezone.now()
    project = part.project
    if not uploads:
        raise ProjectError("Choose a file to upload (a .zip of your code, or the files themselves).")
    _check_window(part, now)
    harness = part.harness if part.autograded else None
    if part.autograded and harness is None:
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
    leftover: Path | None = staged  # removed in `finally` unless the submission committed
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
            team = lock_row(Team, membership.team_id)  # one submission per team at a time: the limit holds
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
            leftover = storage.submission_abspath(rel)  # removed again if the transaction fails
            submission = Submission.objects.create(
                part=part, team=team, submitter=user, number=number, submitted_at=now, path=rel,
                original_name=original[:255], size_bytes=size, sha256=digest, files=files[:ARCHIVE_MAX_FILES],
                via=via,
            )
            submission.members.set(selectors.current_members(team=team))
            if harness is not None:
                run_create(submission=submission, harness=harness, now=now)
        leftover = None
        return submission
    finally:
        storage.remove(leftover)

