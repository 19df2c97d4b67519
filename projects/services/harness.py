"""Harness bundles: the instructor uploads a part's autograder; a version is kept per content digest."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import IO

from django.db import transaction
from django.utils import timezone

from courseapp.models import Role, User
from projects.runner.harness import HarnessError, load_harness

from .. import calculations, storage
from ..models import HarnessBundle, ProjectPart
from .base import ProjectError, require_role, setting


def visibility_timeout_s() -> float:
    """The broker's visibility timeout: a job unacknowledged this long is delivered again (seconds)."""
    options = setting("CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    return float(options.get("visibility_timeout", 3600))


@transaction.atomic
def harness_upload(*, part: ProjectPart, source: IO[bytes] | str | Path, by: User | None,
                   now: dt.datetime | None = None, filename: str = "harness.zip") -> HarnessBundle:
    """Validate a harness (an uploaded zip, a zip path or a folder path) and make it the part's current one.

    The same contents uploaded again reuse their version (matched by the
    runner's digest).  Raises ProjectError with the runner's reason when the
    bundle is invalid, when its time limits do not fit under the broker's
    visibility timeout, or when its points are not positive.
    ``by``: the instructor, or None for the system (the demo, a bench script); PermissionDenied for anyone else.
    """
    if by is not None:
        require_role(by, part.course, (Role.INSTRUCTOR,), "Only the instructor uploads a harness.")
    now = now or timezone.now()
    root = storage.harness_root()
    staged = storage.new_staging_file(root, suffix=".zip")
    moved = False  # True once the staged file became the stored version (not removed then)
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
            moved = True
            bundle = HarnessBundle.objects.create(
                part=part, sha256=harness.sha256, path=rel, name=harness.name, label=harness.version,
                points=calculations.to_points(harness.points), gpus=harness.gpus,
                predict_timeout_s=harness.predict.timeout_s, score_timeout_s=harness.score.timeout_s,
                memory_mb=harness.memory_mb, uploaded_by=by, uploaded_at=now,
            )
        part.harness = bundle
        part.save(update_fields=["harness"])
        if harness.environment is not None:  # build it now, so the first submission need not wait
            from ..tasks import build_environment

            queue, pk = ("gpu" if bundle.gpus else "cpu"), bundle.pk
            transaction.on_commit(lambda: build_environment.apply_async(args=[pk, bool(bundle.gpus)], queue=queue))
        return bundle
    finally:
        if not moved:
            storage.remove(staged)

