"""What the site's views receive, for the type checker.

A view behind login_required, or a DRF view that keeps IsAuthenticated (the default permission,
settings.REST_FRAMEWORK), runs only for a signed-in user: its ``request.user`` is a User, never
AnonymousUser. At run time these classes are Django's HttpRequest and DRF's Request themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from django.http import HttpRequest
from rest_framework.request import Request

if TYPE_CHECKING:
    from .models import User

    class SignedInHttpRequest(HttpRequest):
        """A request that login_required let through."""

        user: User

    class UserRequest(Request):
        """A request that IsAuthenticated let through."""

        user: User

    class SignedInRequest(UserRequest):
        """A request that IsAuthenticated let through, to a view with the site's parsers (courseapp.parsers.PARSERS,
        the default): ObjectJSONParser refuses a body that is not a JSON object, and forms and multipart parse
        to a QueryDict, a dict too."""

        @property
        def data(self) -> dict[str, Any]: ...
else:
    SignedInHttpRequest = HttpRequest
    UserRequest = SignedInRequest = Request


def signed_in_user(request: Request) -> User:
    """``request.user`` where IsAuthenticated let the request through (``self.request`` in a generic view)."""
    return cast("User", request.user)  # IsAuthenticated refuses AnonymousUser before the view runs
