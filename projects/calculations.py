"""Pure rules of the project app: no ORM, no settings, no I/O (STYLE.md).

Points are Decimals rounded to 0.01 (the gradebook's precision); harness
scores arrive as floats from the runner and are converted here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import overload
from zoneinfo import ZoneInfo

CENT = Decimal("0.01")

# --- Time limits ----------------------------------------------------------------
# Nested so that each layer fires before the next one would (docs/projects.md):
#   sandbox (predict timeout_s + score timeout_s + PREPARE_S for unpacking and copying)
#   < Celery soft_time_limit (+ SOFT_MARGIN_S: the task records "timed out" itself)
#   < Celery time_limit (+ HARD_MARGIN_S: the pool kills the process)
#   < the sweep's deadline (+ SWEEP_MARGIN_S: a dead worker's run is failed)
#   < the broker's visibility timeout (Redis redelivers unacknowledged jobs after it).
PREPARE_S = 30.0
SOFT_MARGIN_S = 30.0
HARD_MARGIN_S = 30.0
SWEEP_MARGIN_S = 60.0


@dataclasses.dataclass(frozen=True)
class TimeLimits:
    sandbox_s: float  # the most the runner's two sandboxed steps and their preparation take
    soft_s: float  # Celery soft_time_limit
    hard_s: float  # Celery time_limit
    stuck_after_s: float  # since start: the sweep ends a run still "running" after this

    def fits(self, visibility_timeout_s: float) -> bool:
        """Whether the whole chain ends before the broker would redeliver the job."""
        return self.stuck_after_s < visibility_timeout_s


def run_time_limits(*, predict_timeout_s: float, score_timeout_s: float) -> TimeLimits:
    """The nested limits of one grading attempt, in seconds, from the harness's step timeouts."""
    sandbox_s = predict_timeout_s + score_timeout_s + PREPARE_S
    soft = sandbox_s + SOFT_MARGIN_S
    hard = soft + HARD_MARGIN_S
    return TimeLimits(sandbox_s=sandbox_s, soft_s=soft, hard_s=hard, stuck_after_s=hard + SWEEP_MARGIN_S)


# --- Scores ------------------------------------------------------------------------


@overload
def to_points(value: float | Decimal) -> Decimal: ...


@overload
def to_points(value: None) -> None: ...


def to_points(value: float | Decimal | None) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


def autograde_points(*, score: Decimal | float | None, max_score: Decimal | float | None,
                     worth: Decimal) -> Decimal | None:
    """The harness's ``score`` of ``max_score`` scaled to ``worth`` points of the part.

    None when there is no score (the run errored or is not finished).  A
    harness with extra credit may give more than ``worth``; nothing is clamped here.
    """
    if score is None or max_score is None or Decimal(str(max_score)) <= 0:
        return None
    return to_points(Decimal(str(score)) / Decimal(str(max_score)) * worth)


def combine_part_points(*, mode: str, auto: Decimal | None, rubric: Decimal | None) -> Decimal | None:
    """A submission's points on its part from its autograde points and rubric total (both in part points).

    AUTOGRADED uses ``auto``, RUBRIC uses ``rubric``.  BOTH adds them; a missing
    half counts as 0 once the other exists, so a grade appears as soon as either
    is known.  None means "no score yet" (nothing to post).
    """
    if mode == "autograded":
        return auto
    if mode == "rubric":
        return rubric
    if auto is None and rubric is None:
        return None
    return (auto or Decimal("0")) + (rubric or Decimal("0"))


@dataclasses.dataclass(frozen=True)
class Candidate:
    """One submission of a student for a part, with what it would count for."""

    submission_id: int
    submitted_at: dt.datetime
    points: Decimal | None  # after the late penalty; None: no score yet


def choose_counting(candidates: Iterable[Candidate], *, policy: str) -> Candidate | None:
    """The submission that gives a student's grade: the last scored one, or the best.

    Submissions without a score (queued, running, errored) never count, so a
    broken rerun leaves the previous grade.  Ties for best go to the later one.
    """
    scored = [c for c in candidates if c.points is not None]
    if not scored:
        return None
    if policy == "best":
        return max(scored, key=lambda c: (c.points, c.submitted_at, c.submission_id))
    return max(scored, key=lambda c: (c.submitted_at, c.submission_id))


# --- Results shown to students (Gradescope's visibility rules) ----------------------

VISIBILITIES = ("visible", "hidden", "after_due_date", "after_published")


@dataclasses.dataclass(frozen=True)
class VisibleResults:
    tests: list[dict]  # the tests this viewer may see, in harness order
    withheld: int  # how many tests are not shown yet
    show_score: bool  # the total is shown only when no test is withheld


def visible_results(tests: Sequence[dict], *, staff: bool, now: dt.datetime,
                    due_at: dt.datetime | None, published: bool) -> VisibleResults:
    """Which tests a viewer sees.

    Staff see everything.  Students see ``visible`` tests always,
    ``after_due_date`` ones once the part's due date has passed, and ``hidden``
    and ``after_published`` ones only after the instructor publishes results.
    Withheld tests show nothing at all (not even their names), and while any
    test is withheld the total is withheld too (Gradescope does the same).
    Unknown visibilities count as ``visible`` (Gradescope's default).
    """
    if staff:
        return VisibleResults(tests=list(tests), withheld=0, show_score=True)
    shown = []
    for test in tests:
        visibility = test.get("visibility") or "visible"
        if visibility == "after_due_date":
            ok = published or (due_at is not None and now >= due_at)
        elif visibility in ("hidden", "after_published"):
            ok = published
        else:
            ok = True
        if ok:
            shown.append(test)
    withheld = len(tests) - len(shown)
    return VisibleResults(tests=shown, withheld=withheld, show_score=withheld == 0)


# --- Run outcomes ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: str  # a RunStatus value
    retry: bool  # an infrastructure error worth another attempt
    error: str  # shown to the student ("" when all went well)


def run_outcome(record: dict, *, attempts: int, max_attempts: int) -> Outcome:
    """How a runner record (``GradeRecord.as_dict()``) ends the run.

    ``completed`` means the harness scored it: succeeded when the student's code
    exited 0, timed_out when it ran out of time, failed when it crashed or hit
    another limit (the harness's score still counts).  A harness error is the
    instructor's to fix and is not retried; infrastructure errors are retried
    until ``max_attempts`` attempts were made.
    """
    status = record.get("status")
    error = record.get("error") or ""
    if status == "completed":
        predict = (record.get("predict") or {}).get("status")
        if predict == "ok":
            return Outcome("succeeded", False, error)
        if predict == "timeout":
            return Outcome("timed_out", False, error)
        return Outcome("failed", False, error)
    if status == "submission_error":
        return Outcome("failed", False, error)
    if status == "infrastructure_error" and attempts < max_attempts:
        return Outcome("queued", True, error)
    if status == "infrastructure_error":
        return Outcome("error", False, f"{error} (gave up after {attempts} attempts)")
    return Outcome("error", False, error or "The harness failed; the course staff will look into it.")


def cap_text(text: str, *, max_bytes: int) -> str:
    """``text`` cut to at most ``max_bytes`` UTF-8 bytes, keeping the end (where errors are)."""
    raw = text.encode("utf-8", "replace")
    if len(raw) <= max_bytes:
        return text
    note = f"[... {len(raw) - max_bytes} bytes cut]\n".encode()
    kept = raw[len(raw) - (max_bytes - len(note)):]
    return (note + kept).decode("utf-8", "ignore")


def local_day_start(now: dt.datetime, *, tz: str) -> dt.datetime:
    """Midnight of ``now``'s day in ``tz`` (the daily submission limit resets then)."""
    local = now.astimezone(ZoneInfo(tz))
    return local.replace(hour=0, minute=0, second=0, microsecond=0)
