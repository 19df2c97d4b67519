"""What every projects service module shares: the error people can fix, settings, row locks, `by` checks.

Permission in a service (CONTRIBUTING.md, as grading/services.py does it): a
service that changes state checks the acting user ``by`` itself and raises
PermissionDenied when that person's role in the course does not allow the
change, so a page, the API, a management command or a test cannot skip the
check. The views and APIs have already refused through ``projects.access``;
this is the second wall, and the one scripts meet. ``by=None`` is the system
(a management command, the demo, a worker) where a service says it allows it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import connection, models

from courseapp.access import role_in
from courseapp.models import Course, Role, User

M = TypeVar("M", bound=models.Model)

STAFF_ROLES = (Role.INSTRUCTOR, Role.TA)


class ProjectError(Exception):
    """Something the person asking can fix; the message says what."""


def setting(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


def lock_row(model: type[M], pk: int) -> M:
    """Lock one row for the rest of the transaction and return it.

    PostgreSQL: SELECT … FOR UPDATE.  SQLite has no row locks and its deferred
    transactions fail with "database is locked" when they read, then write while
    another process (a worker) wrote; a no-op UPDATE first takes its write lock,
    waiting up to the busy timeout.
    """
    if connection.vendor == "sqlite":
        model._default_manager.filter(pk=pk).update(id=pk)
        return model._default_manager.get(pk=pk)
    return model._default_manager.select_for_update().get(pk=pk)


def require_role(by: User | None, course: Course, roles: Iterable[str], refusal: str) -> None:
    """PermissionDenied(refusal) unless ``by`` has one of ``roles`` in ``course`` (superusers act as instructors)."""
    if by is None or role_in(by, course) not in set(roles):
        raise PermissionDenied(refusal)
