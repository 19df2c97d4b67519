"""Harness versions before they go live: upload as a candidate, test-run on a sample, then make live.

Writes (CONTRIBUTING: services), kept out of services.py so the harness's life cycle reads in one place:

- ``harness_candidate_upload``: a new version is stored and checked (services.harness_upload) but the
  live one stays live; only a part with no harness yet gets it live at once (students cannot submit
  without one).
- ``trial_create``: the instructor's sample (a .zip or the files) is stored under
  HARNESS_ROOT/trials/ and a ``projects.harness_trial`` task grades it with that version, on the
  version's queue (cpu or gpu), with the same nested time limits as a grading run.
- ``trial_execute``: the task's one call; the runner's record, log and score land on the trial row.
  Nothing of a trial reaches a student or the gradebook.
- ``harness_make_live``: new submissions are graded with that version from now on (existing
  grades stay until the instructor reruns the part).
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import traceback
from collections.abc import Sequence
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from courseapp.access import is_instructor_of
from courseapp.models import User
from projects.runner.archive import ArchiveError, check_archive

from . import calculations, lifecycle, services, storage
from .models import HarnessBundle, HarnessTrial, ProjectPart, TrialStatus

log = logging.getLogger(__name__)

SAMPLE_MAX_MB = 200
# The harness page refreshes itself while a trial this young is unfinished (one a dead worker left
# "running" stops the refreshing; the instructor starts another).
REFRESH_FOR = dt.timedelta(hours=1)
MB = 1024 * 1024


class TrialError(services.ProjectError):
    """A refused trial or version change; the message says what to fix."""


def _check_instructor(part: ProjectPart, by: User) -> None:
    if not is_instructor_of(by, part.course):
        raise TrialError("Only the instructor manages the autograder's harness.")


def harness_candidate_upload(*, part: ProjectPart, source, by: User, filename: str = "harness.zip",
                             ) -> tuple[HarnessBundle, bool]:
    """Store and check a harness version; returns (bundle, whether it is live now).

    The live version stays live (a new one is a candidate until ``harness_make_live``), except
    on a part without one. Raises ProjectError with the runner's reason for a bad bundle.
    """
    _check_instructor(part, by)
    with transaction.atomic():
        part = ProjectPart.objects.select_for_update().get(pk=part.pk)
        live = part.harness_id
        bundle = services.harness_upload(part=part, source=source, by=by, filename=filename)
        if live is not None and live != bundle.pk:
            ProjectPart.objects.filter(pk=part.pk).update(harness_id=live)
        return bundle, live is None or live == bundle.pk


def harness_make_live(*, part: ProjectPart, bundle: HarnessBundle, by: User) -> HarnessBundle:
    """Grade new submissions of ``part`` with ``bundle`` from now on."""
    _check_instructor(part, by)
    if bundle.part_id != part.pk:
        raise TrialError("That harness version belongs to another part.")
    with transaction.atomic():
        ProjectPart.objects.filter(pk=part.pk).update(harness=bundle)
    part.harness = bundle
    return bundle


def trial_create(*, bundle: HarnessBundle, uploads: Sequence, by: User) -> HarnessTrial:
    """Store a sample submission and queue a test-run of ``bundle`` on it (on commit)."""
    part = bundle.part
    _check_instructor(part, by)
    if not uploads:
        raise TrialError("Choose a sample submission (a .zip, or the files) to test the harness on.")
    total = sum(getattr(u, "size", 0) or 0 for u in uploads)
    if total > SAMPLE_MAX_MB * MB:
        raise TrialError(f"The sample is {total / MB:.1f} MB; a test-run takes at most {SAMPLE_MAX_MB} MB.")
    root = storage.harness_root()
    names = [Path(getattr(u, "name", "") or "sample").name for u in uploads]
    staged: Path | None = storage.new_staging_file(root, suffix=".zip")
    assert staged is not None
    try:
        if len(uploads) == 1 and names[0].lower().endswith(".zip"):
            storage.write_upload(uploads[0], staged)
        else:
            if len(set(names)) != len(names):
                raise TrialError("Two of the files have the same name; upload one .zip of the sample instead.")
            storage.zip_uploads(uploads, names, root, staged)
        try:
            check_archive(staged, max_bytes=SAMPLE_MAX_MB * 5 * MB)
        except ArchiveError as exc:
            raise TrialError(f"The sample was refused: {exc.message}") from None
        rel = f"trials/{part.course.code}/{part.slug}/{secrets.token_hex(8)}.zip"
        with transaction.atomic():
            storage.move_into(staged, root, rel)
            staged = storage.harness_abspath(rel)  # removed again if the row is not written
            trial = HarnessTrial.objects.create(
                bundle=bundle, sample_name=", ".join(names)[:255], sample_path=rel, requested_by=by,
                requested_at=timezone.now(),
            )
            transaction.on_commit(lambda: _send(trial))
        staged = None
        return trial
    finally:
        storage.remove(staged)


def _send(trial: HarnessTrial) -> None:
    from .tasks import harness_trial

    bundle = trial.bundle
    limits = calculations.run_time_limits(predict_timeout_s=bundle.predict_timeout_s,
                                          score_timeout_s=bundle.score_timeout_s)
    harness_trial.apply_async(args=[trial.pk], queue="gpu" if bundle.gpus else "cpu", priority=0,
                              soft_time_limit=limits.soft_s, time_limit=limits.hard_s)


def trial_execute(*, trial_id: int, gpu: int | None = None, eager: bool = False) -> str | None:
    """Run one queued trial and record its outcome; a trial not queued (a duplicate delivery) is left alone.

    Returns the trial's final status, or None when it was not ours to run.
    """
    from projects import datasets, environments  # they pull in the runner
    from projects.runner.runner import grade

    now = timezone.now()
    if not HarnessTrial.objects.filter(pk=trial_id, status=TrialStatus.QUEUED).update(
            status=TrialStatus.RUNNING, started_at=now):
        return None
    trial = HarnessTrial.objects.select_related("bundle__part__course").get(pk=trial_id)
    lines: list[str] = []

    def add(line: str) -> None:
        lines.append(f"{timezone.localtime().strftime('%H:%M:%S')} {line}")

    work_root = getattr(settings, "PROJECTS_WORK_ROOT", None) if eager else lifecycle.process_work_root()
    try:
        harness = environments.bundle_harness(trial.bundle)
        record = grade(
            storage.harness_abspath(trial.bundle.path), storage.harness_abspath(trial.sample_path),
            gpu=gpu if trial.bundle.gpus else None,
            work_root=Path(work_root) if work_root else None, on_log=add, stores=environments.node_stores(),
            datasets=datasets.datasets_for(course=trial.bundle.part.course, harness=harness) if harness else {},
        ).as_dict()
    except Exception as exc:  # noqa: BLE001 -- a crash is the trial's outcome, shown to the instructor
        log.exception("harness trial %s crashed", trial_id)
        record = {"status": "infrastructure_error", "error": f"{type(exc).__name__}: {exc}",
                  "traceback": traceback.format_exc()[-4000:]}
    done = record.get("status") == "completed"
    HarnessTrial.objects.filter(pk=trial_id).update(
        status=TrialStatus.COMPLETED if done else TrialStatus.FAILED, finished_at=timezone.now(),
        score=record.get("score") if done else None,
        max_score=float(trial.bundle.points) if done else None,
        error=str(record.get("error") or "")[:20000],
        log=calculations.cap_text("\n".join(lines), max_bytes=64 * 1024),
        results=record,
    )
    return TrialStatus.COMPLETED if done else TrialStatus.FAILED
