"""What the API and the status page show about a submission and its runs.

Students get only what projects/visibility.py allows (Gradescope's visibility
rules; while a total is withheld, so are the log's score line and the harness's
output text), their own code's output (the predict step), and a generic
message when the harness itself failed (its error may quote hidden data).
Staff get everything.

Points are Decimals in these payloads (the pages render them); the API sends
them as decimal strings ("12.50"), like the other apps, through ``api_data``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.urls import reverse
from rest_framework import serializers

from . import calculations, selectors, visibility
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


def api_data(value: Any) -> Any:
    """A payload for the API: every Decimal (points) as its decimal string, e.g. "12.50"; the rest as is."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {key: api_data(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [api_data(item) for item in value]
    return value


def run_data(run: GradingRun, *, staff: bool, position: int | None | object = ..., brief: bool = False,
             show_score: bool = False) -> dict:
    """``position``: the run's queue position when the caller computed it for many runs at once.
    ``brief``: leave out the log tail and the predict step's output (lists load runs without them).
    ``show_score``: a student may see this run's total (visibility.run_view), so its log keeps the
    score line; staff see the whole log whatever it says."""
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
        "log_tail": "" if brief else _tail(visibility.log_for(run.log, staff=staff, show_score=show_score),
                                           LOG_TAIL_LINES),
        "error": run.error if (staff or run.status != RunStatus.ERROR) else STUDENT_HARNESS_ERROR,
        "notice": "" if run.is_terminal else run.notice,
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
            "score": run.score, "max_score": run.max_score,
            "time_limit_s": run.time_limit_s, "send_error": run.send_error,
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
        "run": None,
        "points": None,
        "points_possible": calculations.to_points(part.points),
        "late_penalty": None,
        "tests": [],
        "tests_withheld": 0,
        "output": "",
    }
    if latest is not None:  # its log's score line shows only when its total may (visibility.py)
        seen = visibility.record_view(part, latest.results, staff=staff, now=now)
        # ``...`` is run_data's own default: it then looks the queue position up itself.
        position: int | None | object = ... if positions is None else positions.get(latest.pk)
        # Before its record is stored (a running run's log already says "completed") nothing is known: hide it.
        data["run"] = run_data(latest, staff=staff, show_score=seen.show_score and latest.results is not None,
                               position=position)
    counted = score.run
    released = visibility.results_released(part)  # hand grades show once released
    if counted is not None:
        record = counted.results or {}
        shown = visibility.record_view(part, record, staff=staff, now=now)
        data["tests"] = shown.tests
        data["tests_withheld"] = shown.withheld
        data["output"] = (record.get("output") or "") if shown.show_score else ""  # it may state the total
        data["scored_run"] = counted.pk
        if shown.show_score and score.points is not None:
            data["points"] = calculations.to_points(score.points)
            data["late_penalty"] = calculations.to_points(score.penalty)
    elif score.points is not None and (staff or released):
        data["points"] = calculations.to_points(score.points)
        data["late_penalty"] = calculations.to_points(score.penalty)
    if score.rubric is not None and (staff or released):
        rubric = sub.rubric_grade
        data["rubric"] = {"total": calculations.to_points(score.rubric), "comment": rubric.comment}
    return data


# --- OpenAPI documentation of the payloads above ---------------------------------------
# The views build their payloads with run_data/submission_data (one function per shape,
# shared by the page and the API); these serializers describe those payloads for the
# schema at /api/docs/.  test_apis.py validates real responses against the schema, so a
# key added to a payload without being documented here fails a test.


def _points(**kwargs: Any) -> serializers.DecimalField:
    """Part points as a decimal string with two places ("12.50"), as every app of the site sends points."""
    return serializers.DecimalField(max_digits=8, decimal_places=2, coerce_to_string=True, **kwargs)


def _harness_points(**kwargs: Any) -> serializers.DecimalField:
    """A harness's score as stored, a decimal string with four places ("7.5000")."""
    return serializers.DecimalField(max_digits=10, decimal_places=4, coerce_to_string=True, **kwargs)


class PredictStepSerializer(serializers.Serializer):
    """How the predict step (the student's code) ended."""

    status = serializers.CharField(allow_null=True, help_text="ok, failed, timeout, memory_limit, cpu_limit, "
                                                              "pids_limit, file_size_limit, output_limit, sandbox_error")
    exit_code = serializers.IntegerField(allow_null=True)
    limit = serializers.CharField(allow_null=True, help_text="The limit that ended it (wall_s, memory_mb, pids, "
                                                             "output_bytes, ...), or null")
    wall_s = serializers.FloatField(allow_null=True, help_text="Seconds")
    peak_memory_mb = serializers.FloatField(allow_null=True, help_text="MB")
    stdout = serializers.CharField(allow_null=True, allow_blank=True, help_text="Last 32 KB of the student's output")
    stderr = serializers.CharField(allow_null=True, allow_blank=True)


class RunSerializer(serializers.Serializer):
    """A grading run as ``run_data`` shows it. Fields marked "staff" are absent for students."""

    id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=RunStatus.choices)
    status_display = serializers.CharField()
    terminal = serializers.BooleanField(help_text="Whether the run has finished (it will not change any more)")
    queue = serializers.CharField(help_text="cpu, gpu or rerun")
    queue_position = serializers.IntegerField(allow_null=True, help_text="1 = next; null unless queued")
    is_rerun = serializers.BooleanField()
    attempts = serializers.IntegerField(help_text="Times a worker started it")
    queued_at = serializers.DateTimeField(allow_null=True)
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    log_tail = serializers.CharField(allow_blank=True, help_text=f"Last {LOG_TAIL_LINES} progress lines "
                                                                 "(empty in lists; students: the runner's stage "
                                                                 "lines, without the score while it is withheld)")
    error = serializers.CharField(allow_blank=True, help_text="Why it failed; students get a generic message "
                                                              "for harness errors")
    limit_hit = serializers.CharField(allow_blank=True, help_text="The predict step's limit that ended it, or ''")
    notice = serializers.CharField(allow_blank=True, help_text="Why a run is queued again (e.g. the grading "
                                                               "machine restarted; attempt 2); '' once finished")
    predict = PredictStepSerializer(allow_null=True, help_text="null in lists and before the run finished")
    priority = serializers.IntegerField(required=False, help_text="staff: Celery priority, 0 first")
    worker_host = serializers.CharField(required=False, allow_blank=True, help_text="staff")
    gpu_index = serializers.IntegerField(required=False, allow_null=True, help_text="staff")
    gpu_name = serializers.CharField(required=False, allow_blank=True, help_text="staff")
    peak_memory_mb = serializers.FloatField(required=False, allow_null=True, help_text="staff: MB")
    exit_code = serializers.IntegerField(required=False, allow_null=True, help_text="staff: of the predict step")
    harness_version = serializers.CharField(required=False, allow_blank=True, help_text="staff: bundle digest")
    submission_sha256 = serializers.CharField(required=False, allow_blank=True, help_text="staff")
    score = _harness_points(required=False, allow_null=True, help_text="staff: harness points")
    max_score = _harness_points(required=False, allow_null=True, help_text="staff: harness points")
    time_limit_s = serializers.FloatField(required=False, help_text="staff: hard limit of one attempt, seconds")
    send_error = serializers.CharField(required=False, allow_blank=True,
                                       help_text="staff: why the last send to the broker failed; '' once sent")


class PartRunSerializer(RunSerializer):
    """One row of a part's run list (staff)."""

    submission = serializers.IntegerField(help_text="Submission id")
    team = serializers.CharField()
    requested_by = serializers.CharField(allow_null=True, help_text="Who asked for a rerun; null for a submission")


class PartRunListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = PartRunSerializer(many=True, help_text="Newest first, at most 500")


class RunDetailSerializer(RunSerializer):
    """One run with its logs (staff)."""

    submission = serializers.IntegerField(help_text="Submission id")
    stdout = serializers.CharField(allow_blank=True, help_text="Predict and score steps' stdout, at most 1 MB")
    stderr = serializers.CharField(allow_blank=True, help_text="At most 1 MB")
    log = serializers.CharField(allow_blank=True, help_text="The runner's progress lines")
    results = serializers.DictField(allow_null=True, help_text="The runner's record (tests, steps, durations, "
                                                               "sandbox); see docs/harness.md")


class TestResultSerializer(serializers.Serializer):
    """One test of results.json after Gradescope's visibility rules (docs/harness.md)."""

    name = serializers.CharField()
    score = serializers.FloatField(allow_null=True, help_text="As the harness wrote it in results.json")
    max_score = serializers.FloatField(allow_null=True, help_text="As the harness wrote it in results.json")
    output = serializers.CharField(allow_blank=True)
    visibility = serializers.ChoiceField(choices=[(v, v) for v in calculations.VISIBILITIES])
    number = serializers.CharField(required=False)
    status = serializers.CharField(required=False)


class RubricTotalSerializer(serializers.Serializer):
    total = _points(help_text="Points")
    comment = serializers.CharField(allow_blank=True)


class SubmissionSerializer(serializers.Serializer):
    """A submission with its latest run and the results this viewer may see (``submission_data``)."""

    id = serializers.IntegerField()
    number = serializers.IntegerField(help_text="1, 2, ... within the team and part")
    part = serializers.CharField(help_text="The part's slug")
    team = serializers.CharField()
    submitter = serializers.CharField()
    submitted_at = serializers.DateTimeField()
    late = serializers.BooleanField()
    file = serializers.CharField(help_text="The uploaded file's name")
    size_bytes = serializers.IntegerField()
    sha256 = serializers.CharField()
    files = serializers.ListField(child=serializers.CharField(), help_text="Paths in the archive (first 200)")
    url = serializers.CharField(help_text="The submission's page")
    status_url = serializers.CharField(help_text="This endpoint: poll it for the status")
    run = RunSerializer(allow_null=True, help_text="The latest run")
    points = _points(allow_null=True, help_text="Part points after the late penalty; null while unscored or withheld")
    points_possible = _points()
    late_penalty = _points(allow_null=True, help_text="Points taken off (\"0.00\" when on time)")
    tests = TestResultSerializer(many=True)
    tests_withheld = serializers.IntegerField(help_text="Tests not shown yet (hidden until published or the due date)")
    output = serializers.CharField(allow_blank=True, help_text="The harness's text above the tests ('' while "
                                                               "the total is withheld)")
    scored_run = serializers.IntegerField(required=False, help_text="The run whose score counts, once there is one")
    rubric = RubricTotalSerializer(required=False, help_text="Hand grading, once released (staff: always)")


class SubmissionListSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    results = SubmissionSerializer(many=True)


class PartRerunSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Runs queued")
    queue = serializers.CharField(help_text="Always 'rerun'")
