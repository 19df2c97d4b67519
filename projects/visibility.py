"""What a viewer may see of a grading run: the one rule, used by every channel that shows one.

Channels: the submission and part pages and the project API (projects/serializers.py builds
both from ``run_view`` and ``student_log``), the run pages (staff only), and the gradebook
with what it feeds (My grades, the grades API, LTI passback), which shows a part's grade once
its gradebook item is released.  No e-mail or other notification carries run results today;
one that does must go through ``run_view``/``student_log`` too.

The rule (Gradescope's, docs/harness.md):

- Staff see everything.
- A student sees ``visible`` tests always, ``after_due_date`` ones after the part's due date,
  ``hidden`` and ``after_published`` ones once the part's results are *released*.
- While any test of a run is withheld, everything that would reveal the total is withheld too:
  the points, the harness's free text above the tests (it often states the total), and the run
  log's score line ("completed: 10 / 10"); the log shown to students is ``student_log``.
- *Released* (``results_released``): the instructor published the part's results, or released
  the part's item in the gradebook.  Releasing the grade releases what it is made of, so the
  gradebook never shows a total the part's page withholds.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Sequence

from . import calculations, lifecycle
from .models import ProjectPart

HARNESS_FAILED_LINE = "harness_error: the autograder failed; the course staff has been told"
SCORE_FAILED_LINE = "score step ended: failed (details are for the course staff)"

_STAMP = re.compile(r"^(\d\d:\d\d:\d\d )?(.*)$")
_SEPARATOR = re.compile(r"^-+ attempt \d+ -+$")
_CUT = re.compile(r"^\[\.\.\. \d+ bytes cut\]$")
# Runner and service lines (projects/runner/runner.py, environments.py; services._Progress) a student may
# read. Anything else (a multi-line error's continuation, a harness's message) is not shown to students.
_SAFE = ("harness ", "environment ", "building environment ", "dataset ", "predict step: ",
         "predict step ended: ", "score step: ", "attempt ", "submission_error: ", "infrastructure_error: ",
         "(recorded after the database came back)")
_SCORE = "completed: "


@dataclasses.dataclass(frozen=True)
class RunView:
    """What one viewer sees of one run's results."""

    tests: list[dict]  # in harness order
    withheld: int  # tests not shown yet
    show_score: bool  # the total, the score log line and the harness's output text


def results_released(part: ProjectPart) -> bool:
    """The part's results are out: published by the instructor, or its gradebook item released."""
    return bool(part.results_published or part.grade_item.released)


def run_view(part: ProjectPart, tests: Sequence[dict], *, staff: bool, now: dt.datetime) -> RunView:
    """Which of ``tests`` (a run's results.json tests) the viewer sees, and whether the total shows."""
    shown = calculations.visible_results(tests, staff=staff, now=now, due_at=part.due_at,
                                         published=results_released(part))
    return RunView(tests=shown.tests, withheld=shown.withheld, show_score=shown.show_score)


def record_view(part: ProjectPart, record: dict | None, *, staff: bool, now: dt.datetime) -> RunView:
    """``run_view`` of a run's stored record (``GradingRun.results``; None before it finished)."""
    return run_view(part, (record or {}).get("tests") or [], staff=staff, now=now)


def student_log(text: str, *, show_score: bool) -> str:
    """The runner's progress log as a student may read it.

    Only the runner's known stage lines are kept (an allowlist: a line this module does not
    know is dropped, so a new runner message cannot leak by default); the score line only
    when ``show_score``; a harness error and the score step's error line become generic
    lines (they may quote hidden data); absolute paths are cut to their last part.
    """
    kept = []
    for raw in (text or "").splitlines():
        stamp, line = _STAMP.match(raw).groups()  # type: ignore[union-attr]  # the pattern matches any line
        stamp = stamp or ""
        if _SEPARATOR.match(line) or _CUT.match(line):
            kept.append(raw)
        elif line.startswith(_SCORE):
            if show_score:
                kept.append(raw)
        elif line.startswith("harness_error:"):
            kept.append(stamp + HARNESS_FAILED_LINE)
        elif line.startswith("score step ended: "):
            kept.append(raw if line.startswith("score step ended: ok") else stamp + SCORE_FAILED_LINE)
        elif line.startswith(_SAFE):
            kept.append(raw)
    return lifecycle.scrub_paths("\n".join(kept))


def log_for(text: str, *, staff: bool, show_score: bool) -> str:
    """The log a viewer reads: the whole of it for staff, ``student_log`` for students."""
    return text if staff else student_log(text, show_score=show_score)
