"""Services of the project app: submissions, runs, posting to the gradebook, teams, rubric, sweep.

Grading runs execute eagerly here (CELERY_TASK_ALWAYS_EAGER in tests) when the
submitting transaction commits; the real-worker tests are in test_e2e_worker.py.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from grading.models import Grade, GradeChange, LateBase
from projects import calculations, selectors, services
from projects.gpus import WorkerInfo
from projects.models import (
    CountingPolicy,
    GradingRun,
    ProjectPart,
    RubricGrade,
    RunStatus,
    Submission,
    Team,
    TeamMembership,
)
from projects.storage import submission_abspath

from .conftest import ECHO_HARNESS, upload, zip_bytes

pytestmark = pytest.mark.django_db

WORKER = WorkerInfo(host=f"test@{socket.gethostname()}", pid=os.getpid(), gpu_index=None, gpu_name="")


def submit(part, user, sample="correct", capture=None, **kwargs) -> Submission:
    if capture is None:
        return services.submission_create(part=part, user=user, uploads=[upload(sample)], **kwargs)
    with capture(execute=True):
        return services.submission_create(part=part, user=user, uploads=[upload(sample)], **kwargs)


def grade_of(part: ProjectPart, user) -> Grade | None:
    return Grade.objects.filter(item=part.grade_item, student=user).first()


# --- Submitting -----------------------------------------------------------------------


def test_submission_is_stored_before_its_job_is_sent(echo_part, student, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        sub = services.submission_create(part=echo_part, user=student, uploads=[upload("correct")])
    assert submission_abspath(sub.path).is_file()
    assert GradingRun.objects.get(submission=sub).status == RunStatus.QUEUED
    assert GradingRun.objects.get(submission=sub).sent_at is None  # nothing sent before commit
    assert len(callbacks) == 1


def test_correct_submission_gets_full_marks_for_every_member(
    echo_part, student, other_student, django_capture_on_commit_callbacks
):
    sub = submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    run = GradingRun.objects.get(submission=sub)
    assert run.status == RunStatus.SUCCEEDED
    assert run.attempts == 1
    assert run.score == 4 and run.max_score == 4
    assert run.harness_version == echo_part.harness.sha256
    assert run.submission_sha256 and run.started_at and run.finished_at and run.peak_memory_mb
    assert "all four answers written" in run.stdout
    assert set(sub.members.all()) == {student, other_student}
    for user in (student, other_student):
        grade = grade_of(echo_part, user)
        assert grade.points == Decimal("8.00") and grade.source == "autograder"
        assert GradeChange.objects.filter(item=echo_part.grade_item, student=user).count() == 1


def test_partial_submission_is_scaled_to_the_part_points(echo_part, student, django_capture_on_commit_callbacks):
    submit(echo_part, student, "partial", django_capture_on_commit_callbacks)
    assert grade_of(echo_part, student).points == Decimal("4.00")  # 2 of 4 tests, part worth 8


def test_crash_scores_zero_with_the_error_kept(echo_part, student, django_capture_on_commit_callbacks):
    sub = submit(echo_part, student, "crash", django_capture_on_commit_callbacks)
    run = sub.runs.get()
    assert run.status == RunStatus.FAILED
    assert "RuntimeError: shape mismatch in my attention layer" in run.error
    assert run.exit_code == 1
    assert grade_of(echo_part, student).points == Decimal("0.00")


def test_duplicate_delivery_of_a_finished_run_changes_nothing(
    echo_part, student, django_capture_on_commit_callbacks
):
    sub = submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    run = sub.runs.get()
    again = services.run_execute(run_id=run.pk, worker=WORKER, threaded=False)
    assert again.status is None
    run.refresh_from_db()
    assert run.attempts == 1
    assert Grade.objects.filter(item=echo_part.grade_item, student=student).count() == 1
    assert GradeChange.objects.filter(item=echo_part.grade_item, student=student).count() == 1


def test_a_late_orphan_cannot_record_over_the_attempt_that_holds_the_run(
    echo_part, student, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        sub = services.submission_create(part=echo_part, user=student, uploads=[upload("correct")])
    run = sub.runs.get()
    first = services.run_claim(run_id=run.pk, worker=WORKER)
    GradingRun.objects.filter(pk=run.pk).update(worker_pid=999_999_999)  # its process is gone
    second = services.run_claim(run_id=run.pk, worker=WORKER)
    assert (first.attempt, second.attempt) == (1, 2)
    stale = services.run_record(run_id=run.pk, attempt=1, record={"status": "completed", "score": 4,
                                                                   "max_score": 4, "predict": {"status": "ok"}})
    assert stale is None
    assert grade_of(echo_part, student) is None


def test_daily_limit_refuses_with_a_clear_message(echo_part, student, django_capture_on_commit_callbacks):
    echo_part.project.daily_submission_limit = 2
    echo_part.project.save()
    now = timezone.now()
    for _ in range(2):
        submit(echo_part, student, "correct", django_capture_on_commit_callbacks, now=now)
    with pytest.raises(services.ProjectError, match="used all 2 submissions for Echo exercise today"):
        submit(echo_part, student, "correct", now=now)
    assert Submission.objects.filter(part=echo_part).count() == 2
    tomorrow = calculations.local_day_start(now, tz="Europe/Istanbul") + dt.timedelta(days=1, hours=1)
    assert submit(echo_part, student, "correct", django_capture_on_commit_callbacks, now=tomorrow).number == 3


def test_unsafe_archive_is_refused_with_the_reason_and_nothing_is_stored(echo_part, student, roots):
    evil = SimpleUploadedFile("evil.zip", zip_bytes({"../escape.py": "x = 1"}))
    with pytest.raises(services.ProjectError, match="The archive was refused: .*escape"):
        services.submission_create(part=echo_part, user=student, uploads=[evil])
    assert not Submission.objects.exists()
    stored = [p for p in (roots / "submissions").rglob("*") if p.is_file()]
    assert stored == []


def test_upload_over_the_size_limit_is_refused(echo_part, student):
    echo_part.project.max_upload_mb = 1
    echo_part.project.save()
    big = SimpleUploadedFile("big.zip", b"x" * (1024 * 1024 + 1))
    with pytest.raises(services.ProjectError, match="the limit is 1 MB"):
        services.submission_create(part=echo_part, user=student, uploads=[big])


def test_loose_files_are_packed_into_a_zip(echo_part, student, django_capture_on_commit_callbacks):
    main = SimpleUploadedFile("main.py", b'import json\njson.dump({"a": 1}, open("outputs/answer.json", "w"))\n')
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(part=echo_part, user=student, uploads=[main])
    assert sub.files == ["main.py"]
    assert sub.runs.get().score == 1


def test_student_without_a_team_is_told_to_join_one(echo_part, course):
    from courseapp.models import Membership, Role

    loner = Membership.objects.filter(course=course, role=Role.STUDENT).order_by("-user__username")[0].user
    with pytest.raises(services.ProjectError, match="Join or create a team"):
        services.submission_create(part=echo_part, user=loner, uploads=[upload()])


def test_closed_part_refuses(echo_part, student):
    echo_part.closes_at = timezone.now() - dt.timedelta(minutes=1)
    echo_part.save()
    with pytest.raises(services.ProjectError, match="closed for submissions"):
        submit(echo_part, student)


# --- Which submission counts -------------------------------------------------------------


def test_last_policy_counts_the_latest_submission(echo_part, student, django_capture_on_commit_callbacks):
    submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    submit(echo_part, student, "partial", django_capture_on_commit_callbacks)
    assert grade_of(echo_part, student).points == Decimal("4.00")


def test_best_policy_keeps_the_best_submission(echo_part, student, django_capture_on_commit_callbacks):
    echo_part.project.counting = CountingPolicy.BEST
    echo_part.project.save()
    submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    submit(echo_part, student, "partial", django_capture_on_commit_callbacks)
    assert grade_of(echo_part, student).points == Decimal("8.00")
    assert GradeChange.objects.filter(item=echo_part.grade_item, student=student).count() == 1


def test_late_policy_applies_with_the_submission_time(echo_part, student, django_capture_on_commit_callbacks):
    item = echo_part.grade_item
    item.due_at = timezone.now() - dt.timedelta(hours=30)  # two started days late
    item.late_penalty_percent = Decimal("10")
    item.save()
    submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    grade = grade_of(echo_part, student)
    assert (grade.raw_points, grade.late_penalty_points, grade.points) == (
        Decimal("8.00"), Decimal("1.60"), Decimal("6.40"))


def test_part_page_score_uses_the_items_late_base_like_the_gradebook(
    echo_part, student, django_capture_on_commit_callbacks
):
    item = echo_part.grade_item
    item.due_at = timezone.now() - dt.timedelta(hours=30)  # two started days late
    item.late_penalty_percent = Decimal("10")
    item.late_penalty_base = LateBase.POSSIBLE  # 10% of the 8 points possible per day, not of the score
    item.save()
    submission = submit(echo_part, student, "partial", django_capture_on_commit_callbacks)
    grade = grade_of(echo_part, student)
    assert (grade.raw_points, grade.late_penalty_points, grade.points) == (
        Decimal("4.00"), Decimal("1.60"), Decimal("2.40"))
    shown = selectors.submission_scores(part=echo_part, submissions=[submission])[submission.pk]
    assert (shown.raw, shown.penalty, shown.points) == (grade.raw_points, grade.late_penalty_points, grade.points)


def test_member_who_left_keeps_the_grade_of_what_they_submitted(
    echo_part, student, other_student, django_capture_on_commit_callbacks
):
    submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    services.team_leave(project=echo_part.project, user=other_student)
    submit(echo_part, student, "partial", django_capture_on_commit_callbacks)
    assert grade_of(echo_part, student).points == Decimal("4.00")
    assert grade_of(echo_part, other_student).points == Decimal("8.00")
    assert Submission.objects.filter(members=other_student).count() == 1


# --- Retries, reruns and the sweep -----------------------------------------------------------


def test_infrastructure_errors_are_retried_with_attempts_counted(
    echo_part, student, django_capture_on_commit_callbacks, monkeypatch
):
    from projects.runner import runner

    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        return runner.GradeRecord(status=runner.GradeStatus.INFRASTRUCTURE_ERROR, error="disk full")

    monkeypatch.setattr(runner, "grade", broken)
    sub = submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    run = sub.runs.get()
    assert len(calls) == services.max_attempts() == 3
    assert run.status == RunStatus.ERROR and run.attempts == 3
    assert "gave up after 3 attempts" in run.error
    assert grade_of(echo_part, student) is None


def test_harness_error_is_not_retried_and_posts_nothing(
    echo_part, student, django_capture_on_commit_callbacks, monkeypatch
):
    from projects.runner import runner

    monkeypatch.setattr(runner, "grade", lambda *a, **k: runner.GradeRecord(
        status=runner.GradeStatus.HARNESS_ERROR, error="score step failed: KeyError 'secret'"))
    run = submit(echo_part, student, "correct", django_capture_on_commit_callbacks).runs.get()
    assert (run.status, run.attempts) == (RunStatus.ERROR, 1)
    assert grade_of(echo_part, student) is None


def test_rerun_goes_to_the_rerun_queue_with_lower_priority(
    echo_part, student, instructor, django_capture_on_commit_callbacks
):
    sub = submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        run = services.submission_rerun(submission=sub, by=instructor)
    first = sub.runs.order_by("id").first()
    assert (first.queue, run.queue) == ("cpu", "rerun")
    assert run.priority > first.priority and run.is_rerun and run.requested_by == instructor


def test_rerun_all_leaves_one_grade_and_no_extra_history(
    echo_part, student, instructor, django_capture_on_commit_callbacks
):
    submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    history = GradeChange.objects.filter(item=echo_part.grade_item, student=student)
    before = history.count()
    with django_capture_on_commit_callbacks(execute=True):
        assert services.part_rerun(part=echo_part, by=instructor) == 2
    assert GradingRun.objects.filter(submission__part=echo_part, status=RunStatus.SUCCEEDED).count() == 4
    assert history.count() == before
    assert Grade.objects.filter(item=echo_part.grade_item, student=student).count() == 1


def _queued_run(part, user, capture) -> GradingRun:
    with capture(execute=False):
        return services.submission_create(part=part, user=user, uploads=[upload()]).runs.get()


def test_sweep_requeues_a_run_whose_worker_died(echo_part, student, django_capture_on_commit_callbacks):
    run = _queued_run(echo_part, student, django_capture_on_commit_callbacks)
    services.run_claim(run_id=run.pk, worker=WORKER)
    GradingRun.objects.filter(pk=run.pk).update(worker_pid=999_999_999)
    with django_capture_on_commit_callbacks(execute=True):
        report = services.sweep_stuck_runs()
    assert report.requeued == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 2
    assert grade_of(echo_part, student).points == Decimal("8.00")


def test_sweep_leaves_a_live_run_alone(echo_part, student, django_capture_on_commit_callbacks):
    run = _queued_run(echo_part, student, django_capture_on_commit_callbacks)
    services.run_claim(run_id=run.pk, worker=WORKER)  # this very process: alive
    assert services.sweep_stuck_runs().requeued == []
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_sweep_ends_a_run_past_its_limit_plus_margin(echo_part, student, django_capture_on_commit_callbacks):
    run = _queued_run(echo_part, student, django_capture_on_commit_callbacks)
    services.run_claim(run_id=run.pk, worker=WORKER)
    limits = calculations.run_time_limits(predict_timeout_s=5, score_timeout_s=10)
    later = timezone.now() + dt.timedelta(seconds=limits.stuck_after_s + 1)
    assert services.sweep_stuck_runs(now=later).failed == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.TIMED_OUT and "time limit" in run.error
    assert limits.stuck_after_s - limits.hard_s <= 120


def test_sweep_resends_a_queued_run_whose_job_was_lost(echo_part, student, django_capture_on_commit_callbacks):
    run = _queued_run(echo_part, student, django_capture_on_commit_callbacks)  # never sent: callbacks dropped
    assert services.sweep_stuck_runs().resent == []  # too recent
    later = timezone.now() + dt.timedelta(minutes=2)
    assert services.sweep_stuck_runs(now=later).resent == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


# --- Teams ----------------------------------------------------------------------------------------


def _fresh_students(course, n):
    from courseapp.models import Membership, Role

    return [m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT)
            .order_by("-user__username")[:n]]


def test_team_create_join_leave_keeps_history(project, course):
    a, b, c = _fresh_students(course, 3)
    team = services.team_create(project=project, name="  New   Team ", by=a)
    assert team.name == "New Team"
    services.team_join(project=project, code=team.join_code.lower(), user=b)
    with pytest.raises(services.ProjectError, match="already has 2 members, the most this project allows"):
        services.team_join(project=project, code=team.join_code, user=c)
    services.team_leave(project=project, user=b)
    history = TeamMembership.objects.filter(team=team).order_by("id")
    assert [(m.user, m.left_at is None) for m in history] == [(a, True), (b, False)]
    services.team_join(project=project, code=team.join_code, user=c)


def test_team_join_with_a_wrong_code_says_what_to_do(project, course):
    (a,) = _fresh_students(course, 1)
    with pytest.raises(services.ProjectError, match="has the code “NOPE”; ask your teammate"):
        services.team_join(project=project, code="nope", user=a)


def test_locked_teams_refuse_students_but_not_the_instructor(project, course, instructor):
    a, b = _fresh_students(course, 2)
    team = services.team_create(project=project, name="T", by=a)
    project.teams_locked = True
    project.save()
    with pytest.raises(services.ProjectError, match="Teams are locked"):
        services.team_join(project=project, code=team.join_code, user=b)
    services.team_assign(project=project, student=b, team=team, by=instructor)
    assert TeamMembership.objects.filter(team=team, left_at__isnull=True).count() == 2


def test_instructor_moves_a_student_between_teams(project, student, instructor):
    other = Team.objects.get(project=project, name="Batch Normies")
    services.team_leave(project=project, user=other.memberships.first().user)
    services.team_assign(project=project, student=student, team=other, by=instructor)
    assert TeamMembership.objects.get(project=project, user=student, left_at__isnull=True).team == other
    assert TeamMembership.objects.filter(project=project, user=student).count() == 2


# --- Who may: every state-changing service checks its acting user (by) ------------------------------


def test_team_services_refuse_roles_that_may_not(project, course, ta, instructor, student):
    (fresh,) = _fresh_students(course, 1)
    with pytest.raises(PermissionDenied, match="Only the instructor creates empty teams"):
        services.team_create(project=project, name="TA's", by=ta, join=False)
    with pytest.raises(PermissionDenied, match="Only students create a team"):
        services.team_create(project=project, name="Mine", by=instructor)  # join=True: they would join it
    with pytest.raises(PermissionDenied, match="Only the instructor creates empty teams"):
        services.team_create(project=project, name="Empty", by=fresh, join=False)
    team = Team.objects.get(project=project, name="Batch Normies")
    with pytest.raises(PermissionDenied, match="Only students join teams"):
        services.team_join(project=project, code=team.join_code, user=ta)
    with pytest.raises(PermissionDenied, match="Only the instructor assigns"):
        services.team_assign(project=project, student=fresh, team=None, by=ta)
    with pytest.raises(PermissionDenied, match="Only the instructor takes a student out"):
        services.team_leave(project=project, user=student, by=ta)
    assert not Team.objects.filter(name__in=["TA's", "Mine", "Empty"]).exists()
    services.team_leave(project=project, user=student, by=instructor)  # the instructor may take them out
    assert services.team_create(project=project, name="Empty", by=instructor, join=False).memberships.count() == 0


def test_run_services_refuse_roles_that_may_not(echo_part, student, ta, django_capture_on_commit_callbacks):
    sub = submit(echo_part, student, "correct", django_capture_on_commit_callbacks)
    with pytest.raises(PermissionDenied, match="Only the instructor reruns"):
        services.submission_rerun(submission=sub, by=ta)
    with pytest.raises(PermissionDenied, match="Only the instructor reruns"):
        services.part_rerun(part=echo_part, by=student)
    with pytest.raises(PermissionDenied, match="Only students submit"):
        services.submission_create(part=echo_part, user=ta, uploads=[upload("correct")])
    with pytest.raises(PermissionDenied, match="Only the instructor uploads a harness"):
        services.harness_upload(part=echo_part, source=ECHO_HARNESS, by=ta)
    assert sub.runs.count() == 1 and Submission.objects.count() == 1


# --- Rubric ---------------------------------------------------------------------------------------


def _pdf_submission(project, user, capture) -> Submission:
    part = ProjectPart.objects.get(course=project.course, slug="proposal")
    part.grade_item.due_at = timezone.now() + dt.timedelta(days=1)  # on time (the demo term is past)
    part.grade_item.save()
    pdf = SimpleUploadedFile("proposal.pdf", b"%PDF-1.4 demo")
    with capture(execute=True):
        return services.submission_create(part=part, user=user, uploads=[pdf])


def test_rubric_grade_posts_to_every_member(project, student, other_student, ta,
                                            django_capture_on_commit_callbacks):
    sub = _pdf_submission(project, student, django_capture_on_commit_callbacks)
    assert not sub.runs.exists()  # hand-graded: no autograder job
    criteria = list(sub.part.criteria.all())
    marks = {c.pk: (c.points - Decimal("0.5"), "ok") for c in criteria}
    grade = services.rubric_grade_save(submission=sub, marks=marks, comment="Good plan", by=ta)
    assert grade.total == Decimal("3.50")  # 5 points, half a point off each of 3 criteria
    for user in (student, other_student):
        assert grade_of(sub.part, user).points == Decimal("3.50")
        assert grade_of(sub.part, user).source == "rubric"
    services.rubric_grade_save(submission=sub, marks=marks, comment="Good plan", by=ta)
    assert RubricGrade.objects.count() == 1
    assert GradeChange.objects.filter(item=sub.part.grade_item, student=student).count() == 1


def test_a_student_cannot_save_rubric_marks(project, student, django_capture_on_commit_callbacks):
    sub = _pdf_submission(project, student, django_capture_on_commit_callbacks)
    marks = {c.pk: (c.points, "") for c in sub.part.criteria.all()}
    with pytest.raises(PermissionDenied, match="Only the course staff grade"):
        services.rubric_grade_save(submission=sub, marks=marks, comment="", by=student)
    assert not RubricGrade.objects.exists() and grade_of(sub.part, student) is None


def test_rubric_mark_out_of_range_names_the_criterion(project, student, ta, django_capture_on_commit_callbacks):
    sub = _pdf_submission(project, student, django_capture_on_commit_callbacks)
    criteria = list(sub.part.criteria.all())
    marks = {c.pk: (c.points, "") for c in criteria}
    marks[criteria[0].pk] = (Decimal("9"), "")
    with pytest.raises(services.ProjectError, match=f"“{criteria[0].title}” allows 0 to 2.00 points; you gave 9"):
        services.rubric_grade_save(submission=sub, marks=marks, comment="", by=ta)


def test_hand_graded_part_refuses_other_file_types(project, student):
    part = ProjectPart.objects.get(course=project.course, slug="proposal")
    with pytest.raises(services.ProjectError, match="accepts .pdf files"):
        services.submission_create(part=part, user=student, uploads=[SimpleUploadedFile("p.docx", b"x")])


# --- Harness versions -----------------------------------------------------------------------------


def test_same_harness_twice_is_one_version(echo_part, instructor):
    from .conftest import ECHO_HARNESS

    again = services.harness_upload(part=echo_part, source=ECHO_HARNESS, by=instructor)
    assert again == echo_part.harness
    assert echo_part.harnesses.count() == 1


def test_invalid_harness_is_refused_with_the_runner_reason(echo_part, instructor):
    bad = SimpleUploadedFile("bad.zip", zip_bytes({"harness.toml": "points = 1\n"}))
    with pytest.raises(services.ProjectError, match="The harness bad.zip was refused: .*timeout_s"):
        services.harness_upload(part=echo_part, source=bad, by=instructor, filename="bad.zip")


def test_harness_whose_limits_exceed_the_visibility_timeout_is_refused(echo_part, instructor, settings):
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 60}
    from .conftest import ECHO_HARNESS

    with pytest.raises(services.ProjectError, match="visibility timeout"):
        services.harness_upload(part=echo_part, source=ECHO_HARNESS, by=instructor)


def test_demo_is_idempotent(project, course):
    from projects import demo

    demo.load(course=course)
    assert project.parts.count() == 3
    assert Team.objects.filter(project=project).count() == 4
    final = ProjectPart.objects.get(course=course, slug="final-code")
    assert final.harness is not None and final.harness.name == "mhsa"
    assert final.harnesses.count() == 1


def test_sweep_requeues_a_run_whose_remote_worker_stopped_beating(
    echo_part, student, django_capture_on_commit_callbacks
):
    run = _queued_run(echo_part, student, django_capture_on_commit_callbacks)
    remote = WorkerInfo(host="gpu3@another-node", pid=4242, gpu_index=3, gpu_name="NVIDIA H100")
    services.run_claim(run_id=run.pk, worker=remote)
    assert services.sweep_stuck_runs().requeued == []  # its heartbeat is fresh
    later = timezone.now() + dt.timedelta(seconds=services.stale_after_s() + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.sweep_stuck_runs(now=later).requeued == [run.pk]
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.attempts == 2 and run.gpu_index is None
