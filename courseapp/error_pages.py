"""The site's 403, 404 and 500 pages (templates/403.html, 404.html, 500.html): they say what to do next —
log in, ask the instructor, or go back to the course (the one in the path, when it exists) or the dashboard.

Under /api/ the answers are problem details (courseapp.errors, courseapp.api_errors); these handlers hand such
requests to it, so settings name these and errors.py keeps its API answers alone.
"""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template import loader
from django.views import defaults

from . import errors
from .api_errors import problem_response

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


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(errors.API_PREFIX):
        return errors.not_found(request, exception)
    return render(request, "404.html", {"error_course": _course_of(request), "reason": _reason(exception),
                                        "request_path": request.path}, status=404)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(errors.API_PREFIX):
        return problem_response(request, 403, _reason(exception) or "You do not have permission to do this.",
                                code="permission_denied")
    return render(request, "403.html", {"error_course": _course_of(request), "reason": _reason(exception)},
                  status=403)


def server_error(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(errors.API_PREFIX):
        return errors.server_error(request)
    try:  # no context processors and no database: the error may be the database itself
        return HttpResponse(loader.get_template("500.html").render(), status=500)
    except Exception:  # noqa: BLE001 - the plainest page rather than a second error
        return defaults.server_error(request)
