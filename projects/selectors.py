"""Reads for the project app: a few queries each, never one per row (STYLE.md)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal

from django.db.models import Count, Prefetch, Q

from courseapp.models import User
from grading.services import item_late_penalty

from . import calculations
from .models import (
    GradingMode,
    GradingRun,
    Project,
    ProjectPart,
    RunStatus,
    Submission,
    Team,
    TeamMembership,
)


def current_membership(*, project: Project, user: User) -> TeamMembership | None:
    return (
        TeamMembership.objects.select_related("team")
        .filter(project=project, user=user, left_at__isnull=True)
        .first()
    )


def current_members(*, team: Team) -> list[User]:
    return [
        m.user
        for m in TeamMembership.objects.select_related("user")
        .filter(team=team, left_at__isnull=True)
        .order_by("joined_at", "id")
    ]


@dataclasses.dataclass(frozen=True)
class TeamRow:
    """A team with its members now (``current``), every membership period (``history``) and submission count."""

    team: Team
    current: list[User]
    history: list[TeamMembership]
    n_submissions: int

    @property
    def pk(self) -> int:
        return self.team.pk

    @property
    def name(self) -> str:
        return self.team.name

    @property
    def join_code(self) -> str:
        return self.team.join_code


def teams_with_members(*, project: Project) -> list[TeamRow]:
    """Every team of the project, by name, with its members now and its membership history. Three queries."""
    teams = (
        Team.objects.filter(project=project)
        .prefetch_related(
            Prefetch(
                "memberships",
                queryset=TeamMembership.objects.select_related("user").order_by("joined_at", "id"),
            )
        )
        .annotate(n_submissions=Count("submissions"))
        .order_by("name")
    )
    rows = []
    for team in teams:
        history = list(team.memberships.all())
        rows.append(TeamRow(team=team, current=[m.user for m in history if m.left_at is None], history=history,
                            n_submissions=team.n_submissions))
    return rows


def students_without_team(*, project: Project) -> list[User]:
    in_team = TeamMembership.objects.filter(project=project, left_at__isnull=True).values("user_id")
    return list(
        User.objects.filter(memberships__course=project.course, memberships__role="student",
                            memberships__is_active=True)
        .exclude(pk__in=in_team)
        .order_by("last_name", "first_name", "username")
    )


def autograde_worth(part: ProjectPart) -> Decimal:
    """Points of the part that the autograder gives (all of them unless the part is BOTH)."""
    if part.mode == GradingMode.BOTH:
        return part.autograde_points or Decimal("0")
    return part.points


def scored_run(runs: Iterable[GradingRun]) -> GradingRun | None:
    """The run that gives a submission its autograde score: the newest finished one with a score."""
    best = None
    for run in runs:
        if run.status in (RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.TIMED_OUT) and run.score is not None:
            if best is None or run.pk > best.pk:
                best = run
    return best


@dataclasses.dataclass
class SubmissionScore:
    submission: Submission
    run: GradingRun | None  # the run whose score counts, if any
    auto: Decimal | None  # part points from the autograder
    rubric: Decimal | None  # part points from the rubric
    raw: Decimal | None  # combined, before the late penalty
    penalty: Decimal  # late penalty in points
    points: Decimal | None  # raw minus penalty; None: no score yet


def submission_scores(*, part: ProjectPart, submissions: list[Submission]) -> dict[int, SubmissionScore]:
    """Score every submission of ``part`` in ``submissions`` (prefetch runs and rubric_grade for speed)."""
    item = part.grade_item
    worth = autograde_worth(part)
    scores = {}
    for sub in submissions:
        sub.part = part  # already loaded with its item and course: no query per row
        run = scored_run(sub.runs.all()) if part.autograded else None
        auto = None
        if run is not None:
            auto = calculations.autograde_points(score=run.score, max_score=run.max_score, worth=worth)
            if auto is not None and not item.extra_credit:
                auto = min(auto, worth)
        rubric_grade = getattr(sub, "rubric_grade", None) if part.rubric_graded else None
        rubric = rubric_grade.total if rubric_grade is not None else None
        raw = calculations.combine_part_points(mode=part.mode, auto=auto, rubric=rubric)
        if raw is not None and not item.extra_credit:
            raw = min(raw, item.points_possible)
        penalty = Decimal("0")
        if raw is not None:
            # The gradebook's own rule (rate, floor and base of the item or its category), so the
            # part page shows what grade_post stores.
            penalty = item_late_penalty(item=item, raw_points=raw, submitted_at=sub.submitted_at).points
        scores[sub.pk] = SubmissionScore(
            submission=sub, run=run, auto=auto, rubric=rubric, raw=raw, penalty=penalty,
            points=None if raw is None else raw - penalty,
        )
    return scores


def _with_scoring(qs):
    return qs.prefetch_related(
        Prefetch("runs", queryset=GradingRun.objects.defer("stdout", "stderr")),
        "members",
    ).select_related("rubric_grade", "team", "submitter")


def counting_for_students(*, part: ProjectPart, student_ids: Iterable[int]) -> dict[int, SubmissionScore | None]:
    """For each student, the submission whose score is their grade on ``part`` (project's last/best policy).

    A student's candidates are the submissions whose team they were in when it
    was submitted.  Three queries whatever the number of students.
    """
    student_ids = list(student_ids)
    subs = list(_with_scoring(Submission.objects.filter(part=part, members__in=student_ids).distinct()))
    scores = submission_scores(part=part, submissions=subs)
    per_student: dict[int, list[calculations.Candidate]] = defaultdict(list)
    for sub in subs:
        score = scores[sub.pk]
        for member in sub.members.all():
            per_student[member.pk].append(
                calculations.Candidate(submission_id=sub.pk, submitted_at=sub.submitted_at, points=score.points)
            )
    result = {}
    for sid in student_ids:
        chosen = calculations.choose_counting(per_student.get(sid, []), policy=part.project.counting)
        result[sid] = scores[chosen.submission_id] if chosen else None
    return result


def part_submissions(*, part: ProjectPart, visible) -> list[SubmissionScore]:
    """Submissions in ``visible`` (a queryset already limited by access), newest first, with scores."""
    subs = list(_with_scoring(visible.order_by("-submitted_at", "-id")))
    scores = submission_scores(part=part, submissions=subs)
    return [scores[s.pk] for s in subs]


def latest_run(submission: Submission) -> GradingRun | None:
    return submission.runs.order_by("-id").first()


def queue_position(run: GradingRun) -> int | None:
    """1 for the next job its queue's workers take, 2 for the one after…; None unless queued.

    Counts queued runs of the same queue that go first: higher Celery priority
    (lower number), or the same priority queued earlier.
    """
    if run.status != RunStatus.QUEUED:
        return None
    ahead = GradingRun.objects.filter(queue=run.queue, status=RunStatus.QUEUED).filter(
        Q(priority__lt=run.priority)
        | Q(priority=run.priority, queued_at__lt=run.queued_at)
        | Q(priority=run.priority, queued_at=run.queued_at, pk__lt=run.pk)
    ).count()
    return ahead + 1


def queue_positions(runs: Iterable[GradingRun]) -> dict[int, int]:
    """Queue positions of the queued runs among ``runs``, in one query (see queue_position)."""
    queues = {run.queue for run in runs if run.status == RunStatus.QUEUED}
    if not queues:
        return {}
    ordered = GradingRun.objects.filter(status=RunStatus.QUEUED, queue__in=queues).order_by(
        "priority", "queued_at", "pk").values_list("pk", "queue")
    seen: dict[str, int] = defaultdict(int)
    positions = {}
    for pk, queue in ordered:
        seen[queue] += 1
        positions[pk] = seen[queue]
    return positions


def latest_runs(submissions: Iterable[Submission]) -> dict[int, GradingRun]:
    """Each submission's newest run, from prefetched ``runs`` (no query)."""
    latest = {}
    for sub in submissions:
        runs = list(sub.runs.all())
        if runs:
            latest[sub.pk] = max(runs, key=lambda r: r.pk)
    return latest


def runs_of_part(*, part: ProjectPart):
    return (
        GradingRun.objects.filter(submission__part=part)
        .select_related("submission__team", "harness", "requested_by")
        .defer("stdout", "stderr", "log", "results")
        .order_by("-id")
    )


def submissions_today(*, part: ProjectPart, team: Team, since) -> int:
    """Submissions that count toward the daily limit: those whose grading did not fail on our side.

    A submission all of whose runs ended as *error* (the workers or the harness
    failed, not the student's code) gives the team its try back.
    """
    return (
        Submission.objects.filter(part=part, team=team, submitted_at__gte=since)
        .annotate(runs_n=Count("runs"), not_error=Count("runs", filter=~Q(runs__status=RunStatus.ERROR)))
        .exclude(runs_n__gt=0, not_error=0)
        .count()
    )


def rubric_waiting(*, course) -> list[dict]:
    """Per hand-graded part: teams whose latest submission has no rubric grade yet (one query).

    Rows: part (ProjectPart), teams (count); parts with none waiting are left out.
    """
    latest: dict[tuple[int, int], tuple[int, bool]] = {}
    parts: dict[int, ProjectPart] = {}
    rows = (Submission.objects.filter(part__course=course, part__mode__in=[GradingMode.RUBRIC, GradingMode.BOTH])
            .select_related("part").annotate(graded=Count("rubric_grade")).order_by("number"))
    for sub in rows:
        parts[sub.part_id] = sub.part
        latest[(sub.part_id, sub.team_id)] = (sub.number, bool(sub.graded))  # ordered by number: the last wins
    waiting: dict[int, int] = defaultdict(int)
    for (part_id, _team), (_number, graded) in latest.items():
        if not graded:
            waiting[part_id] += 1
    return [{"part": parts[pk], "teams": n} for pk, n in sorted(waiting.items(), key=lambda kv: parts[kv[0]].position)]


def failed_runs(*, course) -> list[dict]:
    """Per part: submissions whose newest grading run ended in an error (no score; one query).

    An error is the workers' or the harness's failure, not the student's code (that is *failed*, and
    scored): someone should look and rerun. Rows: part (ProjectPart), submissions (count).
    """
    newest: dict[int, GradingRun] = {}
    for run in (GradingRun.objects.filter(submission__part__course=course).select_related("submission__part")
                .only("id", "status", "submission_id", "submission__part").order_by("id")):
        newest[run.submission_id] = run
    counts: dict[int, int] = defaultdict(int)
    parts: dict[int, ProjectPart] = {}
    for run in newest.values():
        if run.status == RunStatus.ERROR:
            part = run.submission.part
            parts[part.pk] = part
            counts[part.pk] += 1
    return [{"part": parts[pk], "submissions": n} for pk, n in sorted(counts.items(), key=lambda kv: parts[kv[0]].position)]


def teamless_counts(*, course) -> list[dict]:
    """Per project of the course with teams of more than one: students in no team (one query per project)."""
    return [{"project": project, "students": len(students_without_team(project=project))}
            for project in Project.objects.filter(course=course).order_by("id") if project.team_size > 1]
