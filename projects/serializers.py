"""What the API and the status page show about a submission and its runs.

Students get only what Gradescope's visibility rules allow (calculations.
visible_results), their own code's output (the predict step), and a generic
message when the harness itself failed (its error may quote hidden data).
Staff get everything.
"""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from rest_framework import serializers

from . import calculations, selectors
from .models import GradingRun, RunStatus, Submission

LOG_TAIL_LINES = 40
STUDENT_HARNESS_ERROR = "The autograder failed on this submission; the course staff has been told and will rerun it."


class SubmissionUploadSerializer(serializers.Serializer):
    """multipart/form-data: one or more ``file`` fields (one .zip, or the files themselves)."""

    file = serializers.ListField(child=serializers.FileField(), allow_empty=False)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.splitlines()[-lines:])


def run_data(run: GradingRun, *, staff: bool, position: int | None | object = ..., brief: bool = False) -> dict:
    """``position``: the run's queue position when the caller computed it for many runs at once.
    ``brief``: leave out the log tail and the predict step's output (lists load runs without them)."""
    data = {
        "id": run.pk,
        "status": run.status,
        "status_display": run.get_status_display(),
        "terminal": run.is_terminal,
        "queue": run.queue,
        "queue_position": selectors.queue_position(run) if position is ... else position,
        "is_rerun": run.is_rerun,
        "attempts": run.attempts,
        "queued_at": _iso(run.queued_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "log_tail": "" if brief else _tail(run.log, LOG_TAIL_LINES),
        "error": run.error if (staff or run.status != RunStatus.ERROR) else STUDENT_HARNESS_ERROR,
        "limit_hit": run.limit_hit,
    }
    steps = {} if brief else (run.results or {}).get("steps", {})
    predict = steps.get("predict") or {}
    data["predict"] = {k: predict.get(k) for k in ("status", "exit_code", "limit", "wall_s", "peak_memory_mb",
                                                     "stdout", "stderr")} if predict else None
    if staff:
        data.update({
            "priority": run.priority, "worker_host": run.worker_host, "gpu_index": run.gpu_index,
            "gpu_name": run.gpu_name, "peak_memory_mb": run.peak_memory_mb, "exit_code": run.exit_code,
            "harness_version": run.harness_version, "submission_sha256": run.submission_sha256,
            "score": None if run.score is None else float(run.score),
            "max_score": None if run.max_score is None else float(run.max_score),
            "time_limit_s": run.time_limit_s,
        })
    return data


def submission_data(score: selectors.SubmissionScore, *, staff: bool, now: dt.datetime,
                    latest: GradingRun | None = None, positions: dict[int, int] | None = None) -> dict:
    """A submission with its latest run and, when finished, its results as this viewer may see them."""
    sub: Submission = score.submission
    part = sub.part
    data = {
        "id": sub.pk,
        "number": sub.number,
        "part": part.slug,
        "team": sub.team.name,
        "submitter": str(sub.submitter),
        "submitted_at": _iso(sub.submitted_at),
        "late": bool(part.due_at and sub.submitted_at > part.due_at),
        "file": sub.original_name,
        "size_bytes": sub.size_bytes,
        "sha256": sub.sha256,
        "files": sub.files[:200],
        "url": reverse("projects:submission", args=[part.course.code, part.slug, sub.pk]),
        "status_url": reverse("projects:api-submission", args=[part.course.code, part.slug, sub.pk]),
        "run": (run_data(latest, staff=staff) if positions is None
                else run_data(latest, staff=staff, position=positions.get(latest.pk))) if latest else None,
        "points": None,
        "points_possible": float(part.points),
        "late_penalty": None,
        "tests": [],
        "tests_withheld": 0,
        "output": "",
    }
    counted = score.run
    released = part.results_published or part.grade_item.released  # hand grades show once released
    if counted is not None:
        record = counted.results or {}
        shown = calculations.visible_results(
            record.get("tests") or [], staff=staff, now=now, due_at=part.due_at, published=part.results_published
        )
        data["tests"] = shown.tests
        data["tests_withheld"] = shown.withheld
        data["output"] = record.get("output") or ""
        data["scored_run"] = counted.pk
        if shown.show_score and score.points is not None:
            data["points"] = float(score.points)
            data["late_penalty"] = float(score.penalty)
    elif score.points is not None and (staff or released):
        data["points"] = float(score.points)
        data["late_penalty"] = float(score.penalty)
    if score.rubric is not None and (staff or released):
        rubric = sub.rubric_grade
        data["rubric"] = {"total": float(score.rubric), "comment": rubric.comment}
    return data
