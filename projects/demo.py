"""The CENG 501 project for the demo course (called by `manage.py load_demo`). Idempotent.

Three parts in the gradebook's "Project" category (45% of the course, counted
in points: 5 + 10 + 30 = 45): a hand-graded proposal and progress report, and
the final code, autograded with the shipped multi-head self-attention harness
(projects/harnesses/mhsa).  Four demo teams of two.

Due dates move with the lectures (courseapp.demo.shifted). With `now` (load_demo places the
course around a day), the first part still due after it is due a week after that day, at 23:59.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import TypedDict
from zoneinfo import ZoneInfo

from django.db import transaction

from courseapp.demo import shifted
from courseapp.models import Course, Membership, Role
from grading.models import Category, GradeItem, LateUnit

from . import selectors, services
from .models import CountingPolicy, GradingMode, Project, ProjectPart, RubricCriterion, Team

MHSA_HARNESS = Path(__file__).resolve().parent / "harnesses" / "mhsa" / "harness"


class _PartSpec(TypedDict):
    """One project part of the demo course, with its rubric."""

    slug: str
    name: str
    short: str
    points: str
    due: tuple[int, int, int]  # year, month, day in the syllabus (courseapp.demo.shifted moves it)
    mode: GradingMode
    accepted: str
    description: str
    criteria: list[tuple[str, str]]  # (title, points)


PARTS: list[_PartSpec] = [
    {
        "slug": "proposal", "name": "Project proposal", "short": "Proposal", "points": "5",
        "due": (2024, 11, 1), "mode": GradingMode.RUBRIC, "accepted": ".pdf",
        "description": "Two pages: the paper you will reproduce, its claims, your plan and compute budget.",
        "criteria": [("Problem and paper chosen clearly", "2"), ("Feasible plan and compute budget", "2"),
                     ("Writing", "1")],
    },
    {
        "slug": "progress-report", "name": "Project progress report", "short": "Progress", "points": "10",
        "due": (2024, 12, 6), "mode": GradingMode.RUBRIC, "accepted": ".pdf",
        "description": "Four pages: what works, first results, what is left.",
        "criteria": [("Implementation progress", "4"), ("First results and their analysis", "4"),
                     ("Plan for the rest", "2")],
    },
    {
        "slug": "final-code", "name": "Project final code", "short": "Final code", "points": "30",
        "due": (2025, 1, 17), "mode": GradingMode.AUTOGRADED, "accepted": "",
        "description": "Implement multi-head self-attention (attention.py); graded by the autograder "
                       "on fixed inputs: output shapes, masking, values and gradients.",
        "criteria": [],
    },
]

DEMO_TEAMS = ["Attention Seekers", "Gradient Descenders", "Vanishing Gradients", "Batch Normies"]


@transaction.atomic
def load(*, course: Course, now: dt.datetime | None = None) -> Project:
    tz = ZoneInfo(course.time_zone)
    next_due_set = False
    project, _ = Project.objects.get_or_create(
        course=course, slug="project",
        defaults={
            "name": "Term project", "team_size": 2, "counting": CountingPolicy.LAST,
            "daily_submission_limit": 5, "max_upload_mb": 50,
            "description": "Reproduce a recent deep learning paper in teams of two.",
        },
    )
    category, _ = Category.objects.get_or_create(
        course=course, name="Project", defaults={"weight": Decimal("45"), "position": 2}
    )
    instructor = (Membership.objects.filter(course=course, role=Role.INSTRUCTOR)
                  .select_related("user").order_by("id").first())
    for position, spec in enumerate(PARTS):
        due = shifted(course, *spec["due"], 23, 59)
        if now is not None and due > now and not next_due_set:
            # the project's next part is due in a week: the demo shows a deadline to work toward
            due = dt.datetime.combine(now.astimezone(tz).date() + dt.timedelta(days=7), dt.time(23, 59), tzinfo=tz)
            next_due_set = True
        item, _ = GradeItem.objects.get_or_create(
            course=course, name=spec["name"],
            defaults={
                "category": category, "short_name": spec["short"], "points_possible": Decimal(spec["points"]),
                "due_at": due, "late_penalty_percent": Decimal("10"), "late_penalty_unit": LateUnit.DAY,
                "late_penalty_floor_percent": Decimal("50"), "position": 10 + position, "ta_editable": True,
            },
        )
        part, created = ProjectPart.objects.get_or_create(
            course=course, slug=spec["slug"],
            defaults={
                "project": project, "name": spec["name"], "description": spec["description"],
                "position": position, "grade_item": item, "mode": spec["mode"],
                "accepted_files": spec["accepted"],  # no closes_at: late work is accepted, with the penalty
            },
        )
        if created:
            for n, (title, points) in enumerate(spec["criteria"]):
                RubricCriterion.objects.create(part=part, title=title, points=Decimal(points), position=n)
        if part.autograded and part.harness_id is None and MHSA_HARNESS.is_dir():
            services.harness_upload(part=part, source=MHSA_HARNESS, by=instructor.user if instructor else None,
                                    filename="mhsa")
    students = [m.user for m in Membership.objects.filter(course=course, role=Role.STUDENT)
                .select_related("user").order_by("user__username")[: 2 * len(DEMO_TEAMS)]]
    for n, name in enumerate(DEMO_TEAMS):
        if Team.objects.filter(project=project, name=name).exists():
            continue
        pair = students[2 * n: 2 * n + 2]
        if len(pair) < 2:
            break
        if any(selectors.current_membership(project=project, user=s) for s in pair):
            continue
        team = services.team_create(project=project, name=name, by=pair[0])
        services.team_join(project=project, code=team.join_code, user=pair[1])
    if now is not None:
        _proposals(project, now=now)
    return project


# A one-page PDF, enough for the proposal part's accepted type.
PROPOSAL_PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>"
                b"endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


def _proposals(project: Project, *, now: dt.datetime) -> None:
    """Every demo team sent its proposal the day before it was due; a TA graded the first half of them,
    so the rest wait on the staff's dashboard (and the proposal's grades are not released yet)."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    part = ProjectPart.objects.filter(project=project, slug="proposal").select_related("grade_item").first()
    if part is None or part.grade_item.due_at is None or part.grade_item.due_at >= now:
        return
    ta = (Membership.objects.filter(course=project.course, role=Role.TA).select_related("user")
          .order_by("user__username").first())
    teams = list(Team.objects.filter(project=project, name__in=DEMO_TEAMS).order_by("id"))
    criteria = list(part.criteria.order_by("position"))
    for n, team in enumerate(teams):
        if part.submissions.filter(team=team).exists():
            continue
        members = selectors.current_members(team=team)
        if not members:
            continue
        sent = part.grade_item.due_at - dt.timedelta(days=1, hours=n)
        upload = SimpleUploadedFile(f"proposal-{team.pk}.pdf", PROPOSAL_PDF, content_type="application/pdf")
        submission = services.submission_create(part=part, user=members[0], uploads=[upload], now=sent)
        if ta is not None and n < len(teams) // 2:
            marks: dict[int, tuple[Decimal | str | None, str]] = {
                c.id: (c.points - Decimal(n % 2) / 2, "") for c in criteria}
            services.rubric_grade_save(submission=submission, marks=marks, comment="Clear plan; check the compute budget.",
                                       by=ta.user, now=sent + dt.timedelta(days=3))
