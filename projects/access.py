"""Who may see and change project things: one `access_*` function per resource (Zulip style).

Each fetches the object *and* checks permission; it is the only check a view or
an API makes (the services check their acting user ``by`` again, with the same
rules).  Non-members of the course get Http404 (course codes and ids do not
leak); members without the role get PermissionDenied.  Students see only their
team's submissions: those whose team they are in now, or whose team they were
in when it was submitted.

Who may do what:

- any member reads the projects, parts and team page; staff (instructor, TAs) see every team,
  submission, run, harness version and dataset;
- students create (and join), join and leave teams, and submit;
- the instructor creates empty teams, assigns students, uploads harnesses and reruns;
- the course staff grade with the rubric.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q, QuerySet
from django.http import Http404

from courseapp.access import STAFF_ROLES, access_course, is_instructor_of, is_staff_of, role_in
from courseapp.models import Course, Role, User

from .models import GradingRun, HarnessBundle, Project, ProjectPart, Submission, TeamMembership


class TeamChange(models.TextChoices):
    """What the team page's form asks for (its ``action`` field)."""

    CREATE = "create", "create a team"
    JOIN = "join", "join a team"
    LEAVE = "leave", "leave your team"
    ASSIGN = "assign", "assign a student"


# Who may make each change: a student's own team (a team they create, they join); the instructor
# creates empty teams and moves students, also when teams are locked. TAs change nothing.
TEAM_CHANGE_ROLES: dict[str, tuple[str, ...]] = {
    TeamChange.CREATE: (Role.STUDENT, Role.INSTRUCTOR),
    TeamChange.JOIN: (Role.STUDENT,),
    TeamChange.LEAVE: (Role.STUDENT,),
    TeamChange.ASSIGN: (Role.INSTRUCTOR,),
}


def access_project(user: User, code: str, slug: str) -> Project:
    """A project of the course, for any member (its team page)."""
    course = access_course(user, code)
    try:
        return Project.objects.select_related("course").get(course=course, slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project.") from None


def access_team_change(user: User, code: str, slug: str, change: TeamChange) -> tuple[Project, str]:
    """The project and the person's role, when that role may make ``change`` to its teams (TEAM_CHANGE_ROLES).

    A TA gets PermissionDenied for every change; a student for assigning; the instructor for
    joining or leaving (they are in no team).
    """
    project = access_project(user, code, slug)
    role = role_in(user, project.course)
    if role is None or role not in TEAM_CHANGE_ROLES[change]:
        raise PermissionDenied(f"Your role in this course does not allow you to {change.label}.")
    return project, role


def access_part(user: User, code: str, slug: str) -> ProjectPart:
    """A part of a project of the course, for any member of the course."""
    course = access_course(user, code)
    return _part(course, slug)


def access_part_as_staff(user: User, code: str, slug: str) -> ProjectPart:
    """A part, for the course staff (its runs, its harness versions)."""
    course = access_course(user, code)
    part = _part(course, slug)
    if not is_staff_of(user, course):
        raise PermissionDenied("Only the course staff may do this.")
    return part


def access_part_as_instructor(user: User, code: str, slug: str) -> ProjectPart:
    """A part, for the instructor (harness uploads, reruns)."""
    course = access_course(user, code)
    part = _part(course, slug)
    if not is_instructor_of(user, course):
        raise PermissionDenied("Only the instructor may do this.")
    return part


def access_part_for_submitting(user: User, code: str, slug: str) -> ProjectPart:
    """A part, for a student to submit to; staff test the pipeline with the instructor's own tools, not here."""
    course = access_course(user, code)
    part = _part(course, slug)
    if role_in(user, course) != Role.STUDENT:
        raise PermissionDenied("Only students submit; try a harness with `manage.py grade_submission`.")
    return part


def _part(course: Course, slug: str) -> ProjectPart:
    try:
        return (
            ProjectPart.objects.select_related("project", "course", "grade_item", "harness")
            .get(course=course, slug=slug)
        )
    except ProjectPart.DoesNotExist:
        raise Http404("No such project part.") from None


def visible_submissions(user: User, part: ProjectPart) -> QuerySet[Submission]:
    """The part's submissions this person may see: all for staff, their team's for a student."""
    qs = Submission.objects.filter(part=part)
    if is_staff_of(user, part.course):
        return qs
    current = TeamMembership.objects.filter(project_id=part.project_id, user=user, left_at__isnull=True)
    return qs.filter(Q(members=user) | Q(team_id__in=current.values("team_id"))).distinct()


def access_submission(user: User, code: str, slug: str, submission_id: int) -> Submission:
    """A submission this person may see (visible_submissions); Http404 for another team's."""
    part = access_part(user, code, slug)
    try:
        submission = visible_submissions(user, part).select_related(
            "part__project", "part__grade_item", "part__course", "team", "submitter"
        ).get(pk=submission_id)
    except Submission.DoesNotExist:
        raise Http404("No such submission.") from None
    return submission


def access_submission_as_staff(user: User, code: str, slug: str, submission_id: int) -> Submission:
    part = access_part_as_staff(user, code, slug)
    return access_submission(user, code, part.slug, submission_id)


def access_submission_as_instructor(user: User, code: str, slug: str, submission_id: int) -> Submission:
    """A submission, for the instructor (a rerun)."""
    part = access_part_as_instructor(user, code, slug)
    return access_submission(user, code, part.slug, submission_id)


def access_submission_for_rubric(user: User, code: str, slug: str, submission_id: int) -> Submission:
    """A submission of a rubric-graded part, for the course staff to grade; Http404 on other parts."""
    submission = access_submission_as_staff(user, code, slug, submission_id)
    if not submission.part.rubric_graded:
        raise Http404("This part is not graded with a rubric.")
    return submission


def access_harness(user: User, code: str, slug: str, harness_id: int) -> HarnessBundle:
    """A harness version of a part, for the course staff."""
    part = access_part_as_staff(user, code, slug)
    try:
        return HarnessBundle.objects.select_related("part").get(pk=harness_id, part=part)
    except HarnessBundle.DoesNotExist:
        raise Http404("No such harness version.") from None


def access_datasets(user: User, code: str) -> Course:
    """The course, for its datasets page: the course staff."""
    course = access_course(user, code)
    if role_in(user, course) not in STAFF_ROLES:
        raise PermissionDenied("Only the course staff may see datasets.")
    return course


def access_run_as_staff(user: User, code: str, run_id: int) -> GradingRun:
    course = access_course(user, code)
    if not is_staff_of(user, course):
        raise PermissionDenied("Only the course staff may see grading runs.")
    try:
        return GradingRun.objects.select_related(
            "submission__part__project", "submission__team", "harness"
        ).get(pk=run_id, submission__part__course=course)
    except GradingRun.DoesNotExist:
        raise Http404("No such grading run.") from None
