"""Teams: students create, join and leave them; the instructor creates empty ones and assigns students.

Who may (checked on ``by`` here, and by projects.access.access_team_change for the team page):

- a student creates a team (and joins it), joins one by its code, leaves theirs, while teams are open;
- the instructor creates empty teams and puts any student in any team (or none), also when locked;
- a TA changes nothing (they see every team on the team page).
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from courseapp.models import Membership, Role, User

from .. import selectors
from ..models import Project, Team, TeamMembership
from .base import ProjectError, lock_row, require_role

TEAM_NAME_MAX = 80


def _is_student(project: Project, user: User) -> bool:
    return Membership.objects.filter(
        course=project.course_id, user=user, role=Role.STUDENT, is_active=True
    ).exists()


def _check_teams_open(project: Project) -> None:
    if project.teams_locked:
        raise ProjectError("Teams are locked for this project; ask the instructor to change your team.")


def _check_room(team: Team, project: Project) -> None:
    size = TeamMembership.objects.filter(team=team, left_at__isnull=True).count()
    if size >= project.team_size:
        raise ProjectError(
            f"Team “{team.name}” already has {size} members, the most this project allows "
            f"({project.team_size}); join another team or create your own."
        )


def _join(*, team: Team, user: User, by: User, now: dt.datetime) -> TeamMembership:
    try:
        with transaction.atomic():
            return TeamMembership.objects.create(
                team=team, project_id=team.project_id, user=user, joined_at=now, added_by=by
            )
    except IntegrityError:
        raise ProjectError(f"{user} is already in a team of this project; leave it first.") from None


@transaction.atomic
def team_create(*, project: Project, name: str, by: User, join: bool = True,
                now: dt.datetime | None = None) -> Team:
    """Create a team; a student creating one joins it (``join``); the instructor creates empty teams.

    Raises PermissionDenied unless ``by`` is a student (``join``) or the instructor (an empty team);
    ProjectError for an empty or taken name, locked teams, or a student already in a team.
    """
    if join:
        require_role(by, project.course, (Role.STUDENT,), "Only students create a team to join it; "
                                                           "the instructor creates empty teams.")
    else:
        require_role(by, project.course, (Role.INSTRUCTOR,), "Only the instructor creates empty teams.")
    now = now or timezone.now()
    name = " ".join(name.split())
    if not name:
        raise ProjectError("Give your team a name.")
    if len(name) > TEAM_NAME_MAX:
        raise ProjectError(f"Team names have at most {TEAM_NAME_MAX} characters; choose a shorter one.")
    if join:
        _check_teams_open(project)
        if selectors.current_membership(project=project, user=by):
            raise ProjectError("You are already in a team of this project; leave it first.")
    if Team.objects.filter(project=project, name__iexact=name).exists():
        raise ProjectError(f"A team named “{name}” already exists; choose another name.")
    team = Team.objects.create(project=project, name=name, join_code=secrets.token_hex(4).upper(),
                               created_at=now, created_by=by)
    if join:
        _join(team=team, user=by, by=by, now=now)
    return team


@transaction.atomic
def team_join(*, project: Project, code: str, user: User, now: dt.datetime | None = None) -> Team:
    """A student joins the team whose join code they were given (PermissionDenied for anyone else)."""
    require_role(user, project.course, (Role.STUDENT,), "Only students join teams; the instructor assigns them.")
    now = now or timezone.now()
    _check_teams_open(project)
    code = code.strip().upper()
    team = Team.objects.filter(project=project, join_code=code).first()
    if team is not None:
        team = lock_row(Team, team.pk)  # two students joining at once cannot overfill it
    if team is None:
        raise ProjectError(
            f"No team of {project.name} has the code “{code}”; ask your teammate to copy it from their team page."
        )
    current = selectors.current_membership(project=project, user=user)
    if current is not None:
        raise ProjectError(f"You are already in team “{current.team.name}”; leave it first.")
    _check_room(team, project)
    _join(team=team, user=user, by=user, now=now)
    return team


@transaction.atomic
def team_leave(*, project: Project, user: User, by: User | None = None, now: dt.datetime | None = None) -> Team:
    """End ``user``'s current team membership; their past submissions stay theirs.

    ``by`` (default ``user``): the student themself while teams are open, or the instructor at any time;
    PermissionDenied for anyone else.
    """
    now = now or timezone.now()
    by = by or user
    if by == user:
        require_role(by, project.course, (Role.STUDENT,), "Only students leave teams; the instructor moves them.")
        _check_teams_open(project)
    else:
        require_role(by, project.course, (Role.INSTRUCTOR,), "Only the instructor takes a student out of a team.")
    membership = selectors.current_membership(project=project, user=user)
    if membership is None:
        raise ProjectError("You are not in a team of this project.")
    membership.left_at = now
    membership.removed_by = by
    membership.save(update_fields=["left_at", "removed_by"])
    return membership.team


@transaction.atomic
def team_assign(*, project: Project, student: User, team: Team | None, by: User,
                now: dt.datetime | None = None) -> TeamMembership | None:
    """The instructor puts ``student`` in ``team`` (None: in no team), ending any current membership.

    Works when teams are locked; still keeps to the project's team size.
    PermissionDenied unless ``by`` is the instructor.
    """
    require_role(by, project.course, (Role.INSTRUCTOR,), "Only the instructor assigns students to teams.")
    now = now or timezone.now()
    if not _is_student(project, student):
        raise ProjectError(f"{student} is not a student of this course.")
    current = selectors.current_membership(project=project, user=student)
    if current is not None and team is not None and current.team_id == team.pk:
        return current
    if team is not None:
        if team.project_id != project.pk:
            raise ProjectError("That team belongs to another project.")
        _check_room(team, project)
    if current is not None:
        current.left_at = now
        current.removed_by = by
        current.save(update_fields=["left_at", "removed_by"])
    if team is None:
        return None
    return _join(team=team, user=student, by=by, now=now)

