"""Request bodies refused before they are read.

A client declares the body's size in Content-Length; this middleware compares it with the
route's limit and answers 413, with the limit in the message, without reading a byte of the
body. The small limit (REQUEST_BODY_MAX_BYTES, 1 MB) holds for every route and for every
anonymous client; the routes below accept uploads from a logged-in client (a session or an
`Authorization` header, which DRF checks before it parses the body):

- project submissions, and the sample of a harness test-run: the project's `max_upload_mb` (plus room
  for the multipart framing);
- harness bundles: HARNESS_BODY_MAX_BYTES;
- one chunk of a dataset upload: DATASET_UPLOAD_CHUNK_MB;
- roster, grade, GIFT and Moodle XML imports: IMPORT_BODY_MAX_BYTES.

deploy/nginx/ holds the same limits at the proxy; this is the backstop when the app is
reached directly (make run, a proxy without them). A body without Content-Length (chunked)
is never read by Django's WSGI handler, and nginx turns chunked uploads into a sized body.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve

from .api_errors import problem_response, wants_json

MB = 1024 * 1024
# Multipart boundaries, part headers and the other form fields around the uploaded files.
MULTIPART_SLACK = 256 * 1024


def _submission_limit(kwargs: dict) -> int | None:
    from projects.models import ProjectPart

    max_mb = (
        ProjectPart.objects.filter(course__code=kwargs.get("code"), slug=kwargs.get("part"))
        .values_list("project__max_upload_mb", flat=True)
        .first()
    )
    return None if max_mb is None else max_mb * MB + MULTIPART_SLACK


def _import_limit(kwargs: dict) -> int:
    return settings.IMPORT_BODY_MAX_BYTES


def _harness_limit(kwargs: dict) -> int:
    return settings.HARNESS_BODY_MAX_BYTES


def _dataset_chunk_limit(kwargs: dict) -> int:
    return settings.DATASET_UPLOAD_CHUNK_MB * MB


# URL name -> the route's limit in bytes for a logged-in client (None: no such route object).
UPLOAD_ROUTES: dict[str, Callable[[dict], int | None]] = {
    "projects:api-submissions": _submission_limit,
    "projects:harness-upload": _harness_limit,
    "projects:harness-trial": _submission_limit,  # a sample submission
    "projects:api-dataset-upload": _dataset_chunk_limit,
    "courseapp-roster-import": _import_limit,
    "courseapp-api-roster-preview": _import_limit,
    "courseapp-api-roster-apply": _import_limit,
    "grading-import": _import_limit,
    "grading-api-import-preview": _import_limit,
    "grading-api-import-apply": _import_limit,
    "quizzes:api-gift": _import_limit,
    "quizzes:api-moodle-xml": _import_limit,
    "quizzes:bank": _import_limit,  # the GIFT import form
    "quizzes:bank-import-xml": _import_limit,
}


def declared_length(request: HttpRequest) -> int | None:
    """Content-Length as an int; None when absent or not a number (Django then reads nothing)."""
    try:
        value = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    return value if value > 0 else None


def _has_login(request: HttpRequest) -> bool:
    """Token header (checked by DRF before it parses the body) or a session with a logged-in user."""
    if request.META.get("HTTP_AUTHORIZATION"):
        return True
    key = request.COOKIES.get(settings.SESSION_COOKIE_NAME)
    if not key:
        return False
    store = import_module(settings.SESSION_ENGINE).SessionStore(key)
    return store.get(SESSION_KEY) is not None


def route_limit(request: HttpRequest) -> int:
    """The most bytes this request may declare: an upload route's limit for a logged-in client."""
    small = settings.REQUEST_BODY_MAX_BYTES
    try:
        match = resolve(request.path_info)
    except Resolver404:
        return small
    upload = UPLOAD_ROUTES.get(match.view_name)
    if upload is None or not _has_login(request):
        return small
    return max(small, upload(match.kwargs) or small)


def _size(n: int) -> str:
    # Whole MB, rounded down: a submission's limit (max_upload_mb plus the framing) reads as max_upload_mb.
    return f"{n // MB} MB" if n >= MB else f"{n // 1024} KB"


def too_large(request: HttpRequest, *, declared: int, limit: int) -> HttpResponse:
    message = (
        f"The request body is {_size(declared)}; this address accepts at most {_size(limit)}. "
        "Send a smaller file (project uploads: leave out data sets and checkpoints)."
    )
    if wants_json(request):
        response: HttpResponse = problem_response(request, 413, message, code="too_large", limit_bytes=limit)
    else:
        response = HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
    # The body stays unread; the server (gunicorn, runserver) closes or drains the connection
    # (WSGI forbids an application's Connection header).
    return response


class RequestBodyLimitMiddleware:
    """413 for a declared body above the route's limit, before anything reads it."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        declared = declared_length(request)
        # Nearly every request is small: one integer comparison, no URL resolution.
        if declared is not None and declared > settings.REQUEST_BODY_MAX_BYTES:
            limit = route_limit(request)
            if declared > limit:
                return too_large(request, declared=declared, limit=limit)
        return self.get_response(request)
