"""Django's 404 and 500 handlers: JSON under /api/, the site's pages elsewhere.

DRF answers JSON for what its views raise, but a path no URL pattern matches never reaches a
view: `/api/courses/x/grade-items/abc/` (a non-integer id), a typo, a removed route. Django then
answered its HTML page, which a script cannot read and the schema does not describe. An
uncaught exception in an API view likewise became an HTML 500.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found: no such API route or object. Ids in paths are whole numbers "
                                       "and course codes are slugs; the routes are listed at /api/docs/."},
                            status=404)
    return defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Server error: the request was not completed, and it was logged. "
                                       "Try again; if it fails again, tell the course staff what you sent."},
                            status=500)
    return defaults.server_error(request)
