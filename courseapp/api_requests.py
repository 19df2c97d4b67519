"""What the site's DRF views receive, for the type checker.

IsAuthenticated, the default permission (settings.REST_FRAMEWORK), lets only signed-in users
through, so in a view that keeps it ``request.user`` is a User, never AnonymousUser. At run
time the class is DRF's Request itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework.request import Request

if TYPE_CHECKING:
    from .models import User

    class UserRequest(Request):
        """A request that IsAuthenticated let through."""

        user: User
else:
    UserRequest = Request
