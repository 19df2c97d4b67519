"""Writes of the project app, one module per concern; this package re-exports their public names.

- ``teams``: create, join, leave, assign (who may: see that module);
- ``harness``: the instructor's harness bundles;
- ``submissions``: a team's upload, checked, stored and queued;
- ``runs``: a grading run's life (create, claim, heartbeat, record) and reruns;
- ``grades``: posting a part's grades to the gradebook;
- ``rubric``: hand grading against the part's criteria;
- ``sweep``: runs a dead worker or a lost message left behind.

The same functions serve the pages, the API, the management commands and the
Celery tasks.  Errors a person can fix raise ``ProjectError`` with a message
saying what to do; a service that changes state checks its acting user ``by``
and raises PermissionDenied for a role that may not (base.py).  Every write is
transactional; grading jobs are sent to the broker only in
``transaction.on_commit`` so a worker never sees a row that was rolled back (a
crash between commit and send is caught by the sweep).

Patch a function where it is looked up: ``projects.services.runs.run_claim``
for run_execute's claim, not this package's re-export.
"""

from __future__ import annotations

from .base import ProjectError
from .grades import part_grades_post
from .harness import harness_upload, visibility_timeout_s
from .rubric import rubric_grade_save
from .runs import (
    LOG_MAX_BYTES,
    RERUN_PRIORITY,
    STD_MAX_BYTES,
    STUDENT_PRIORITY,
    Claim,
    Executed,
    db_retry_s,
    heartbeat_s,
    max_attempts,
    part_rerun,
    run_claim,
    run_create,
    run_execute,
    run_record,
    run_record_or_spool,
    stale_after_s,
    submission_rerun,
)
from .submissions import ARCHIVE_MAX_FILES, ARCHIVE_MAX_UNPACKED_MB, MB, submission_create
from .sweep import SweepReport, resend_after_s, sweep_stuck_runs
from .teams import team_assign, team_create, team_join, team_leave

__all__ = [
    "ARCHIVE_MAX_FILES", "ARCHIVE_MAX_UNPACKED_MB", "LOG_MAX_BYTES", "MB", "RERUN_PRIORITY", "STD_MAX_BYTES",
    "STUDENT_PRIORITY", "Claim", "Executed", "ProjectError", "SweepReport", "db_retry_s", "harness_upload",
    "heartbeat_s", "max_attempts", "part_grades_post", "part_rerun", "resend_after_s", "rubric_grade_save",
    "run_claim", "run_create", "run_execute", "run_record", "run_record_or_spool", "stale_after_s",
    "submission_create", "submission_rerun", "sweep_stuck_runs", "team_assign", "team_create", "team_join",
    "team_leave", "visibility_timeout_s",
]
