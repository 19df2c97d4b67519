"""Django's 403, 404 and 500 handlers: JSON under /api/, the site's pages elsewhere.

The pages (templates/403.html, 404.html, 500.html) say what to do next: log in, ask the
instructor, or go back to the course (the course in the path, when it exists) or the dashboard.

DRF answers JSON for what its views raise, but a path no URL pattern matches never reaches a
view: `/api/courses/x/grade-items/abc/` (a non-integer id), a typo, a removed route. Django then
answered its HTML page, which a script cannot read and the schema does not describe. An
uncaught exception in an API view likewise became an HTML 500.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.views import defaults

API_PREFIX = "/api/"
_COURSE_PATH = re.compile(r"^/courses/(?P<code>[-\w]+)/")


def _course_of(request: HttpRequest):
    """The course named in the path (/courses/<code>/…), if there is one: the page links back to it."""
    from .models import Course

    match = _COURSE_PATH.match(request.path)
    return Course.objects.filter(code=match["code"]).first() if match else None


def _reason(exception: Exception | None) -> str:
    """The message a view gave (our access_* functions say who may do what); "" for Django's generic ones."""
    text = str(exception or "")
    generic = ("", "Forbidden", "Resolver404", "Not Found")
    return "" if text in generic or text.startswith("{") or "matches the given query" in text else text


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIX)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Not found: no such API route or object. Ids in paths are whole numbers "
                                       "and course codes are slugs; the routes are listed at /api/docs/."},
                            status=404)
    return render(request, "404.html", {"error_course": _course_of(request), "reason": _reason(exception),
                                        "request_path": request.path}, status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": _reason(exception) or "You do not have permission to do this."}, status=403)
    return render(request, "403.html", {"error_course": _course_of(request), "reason": _reason(exception)},
                  status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": "Server error: the request was not completed, and it was logged. "
                                       "Try again; if it fails again, tell the course staff what you sent."},
                            status=500)
    try:  # no context processors and no database: the error may be the database itself
        return HttpResponse(loader.get_template("500.html").render(), status=500)
    except Exception:  # noqa: BLE001 - the plainest page rather than a second error
        return defaults.server_error(request)
