"""Who may see and change project things: one `access_*` function per resource (Zulip style).

Each fetches the object *and* checks permission.  Non-members of the course get
Http404 (course codes and ids do not leak); members without the role get
PermissionDenied.  Students see only their team's submissions: those whose
team they are in now, or whose team they were in when it was submitted.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404

from courseapp.access import access_course, is_instructor_of, is_staff_of
from courseapp.models import Course, Role, User

from .models import GradingRun, Project, ProjectPart, Submission, TeamMembership


def access_project(user: User, code: str, slug: str) -> Project:
    course = access_course(user, code)
    try:
        return Project.objects.select_related("course").get(course=course, slug=slug)
    except Project.DoesNotExist:
        raise Http404("No such project.") from None


def access_part(user: User, code: str, slug: str) -> ProjectPart:
    """A part of a project of the course, for any member of the course."""
    course = access_course(user, code)
    return _part(course, slug)


def access_part_as_staff(user: User, code: str, slug: str) -> ProjectPart:
    course = access_course(user, code)
    part = _part(course, slug)
    if not is_staff_of(user, course):
        raise PermissionDenied("Only the course staff may do this.")
    return part


def access_part_as_instructor(user: User, code: str, slug: str) -> ProjectPart:
    course = access_course(user, code)
    part = _part(course, slug)
    if not is_instructor_of(user, course):
        raise PermissionDenied("Only the instructor may do this.")
    return part


def access_part_for_submitting(user: User, code: str, slug: str) -> ProjectPart:
    """Students submit; staff test the pipeline through the instructor's own tools, not here."""
    course = access_course(user, code, roles=(Role.STUDENT,))
    return _part(course, slug)


def _part(course: Course, slug: str) -> ProjectPart:
    try:
        return (
            ProjectPart.objects.select_related("project", "course", "grade_item", "harness")
            .get(course=course, slug=slug)
        )
    except ProjectPart.DoesNotExist:
        raise Http404("No such project part.") from None


def visible_submissions(user: User, part: ProjectPart):
    """The part's submissions this person may see: all for staff, their team's for a student."""
    qs = Submission.objects.filter(part=part)
    if is_staff_of(user, part.course):
        return qs
    current = TeamMembership.objects.filter(project_id=part.project_id, user=user, left_at__isnull=True)
    return qs.filter(Q(members=user) | Q(team_id__in=current.values("team_id"))).distinct()


def access_submission(user: User, code: str, slug: str, submission_id: int) -> Submission:
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
