"""Django's 404 and 500 handlers: JSON under /api/, the site's pages elsewhere.

DRF answers JSON for what its views raise, but a path no URL pattern matches never reaches a
view: `/api/courses/x/grade-items/abc/` (a non-integer id), a typo, a removed route. Django then
answered its HTML page, which a script cannot read and the schema does not describe. An
uncaught exception in an API view likewise became an HTML 500. Both answer problem details
(courseapp.api_errors), like every other API error.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from .api_errors import problem_response

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return problem_response(request, 404, "Not found: no such API route or object. Ids in paths are whole "
                                              "numbers and course codes are slugs; the routes are listed at /api/docs/.",
                                code="not_found")
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return problem_response(request, 500, "Server error: the request was not completed, and it was logged. "
                                              "Try again; if it fails again, tell the course staff what you sent.",
                                code="server_error")
    return defaults.server_error(request)
