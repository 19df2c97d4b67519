"""Submitted files in the browser: the file tree and a preview, and the bytes themselves.

Who: the course staff and the submitting team (access.access_submission), nobody else:
another team's student and an outsider get 404.  What is read and how it is capped
is projects/files.py; this module only chooses the headers:

- every file answer has ``X-Content-Type-Options: nosniff`` and ``Cache-Control: private, no-store``;
- ``?inline=1`` shows a PDF or a raster image in the page (a PDF in an <iframe> of
  the viewer page: X-Frame-Options SAMEORIGIN and ``frame-ancestors 'self'`` for
  that answer only); any other file, HTML and SVG included, is always an attachment
  served as plain text or octet-stream, so nothing a student wrote runs on the site.
"""

from __future__ import annotations

from typing import cast
from urllib.parse import urlencode

from csp.decorators import csp_replace
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.safestring import mark_safe
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_GET

from courseapp.access import is_staff_of
from courseapp.models import User
from courseapp.request_types import SignedInHttpRequest

from . import access, files
from .models import Submission
from .views import _ctx


def file_url(submission: Submission, name: str | None = None, *, inline: bool = False) -> str:
    """The URL of the whole upload (``name`` None) or of one member of its zip."""
    base = reverse("projects:submission-file",
                   args=[submission.part.course.code, submission.part.slug, submission.pk])
    query = {**({"path": name} if name is not None else {}), **({"inline": "1"} if inline else {})}
    return f"{base}?{urlencode(query)}" if query else base


def viewer_context(submission: Submission, path: str | None, *, page: str | None = None) -> dict:
    """What the viewer shows: the tree of a zip (or the one file) and a preview of ``path``.

    ``page``: where the tree's links lead (``?path=`` is added); the viewer page by default,
    the rubric page when grading beside the file.

    Never raises for a bad ``path``: the preview says what is wrong (missing, refused, too large).
    """
    ctx: dict = {"download_url": file_url(submission), "download_name": files.download_name(submission),
                 "tree": None, "preview": None, "problem": ""}
    try:
        if files.is_zip(submission):
            tree = files.members(submission)
            base = page or reverse("projects:submission-files",
                                   args=[submission.part.course.code, submission.part.slug, submission.pk])
            ctx["tree"] = [{"member": m, "url": f"{base}?{urlencode({'path': m.name})}"} for m in tree]
            if path is None:  # open a PDF first (a report), else the first file that can be shown
                first = next((m for m in tree if m.kind == "pdf" and not m.refused), None) or \
                    next((m for m in tree if m.kind != "binary" and not m.refused), None)
                path = first.name if first else None
            if path is not None:
                found = next((m for m in tree if m.name == path), None)
                if found is None:
                    raise files.FileError("No such file in this submission.")
                ctx["preview"] = _preview(submission, found.name, found.kind, refused=found.refused,
                                          too_large=found.too_large, member=True)
        else:
            name = files.download_name(submission)
            size = files.stored_path(submission).stat().st_size
            kind = files.kind_of(name)
            too_large = size > (files.MAX_TEXT_BYTES if kind == "text" else files.MAX_MEMBER_BYTES)
            ctx["preview"] = _preview(submission, name, kind, refused="", too_large=too_large, member=False)
    except files.FileError as exc:
        ctx["problem"] = str(exc)
    return ctx


def _preview(submission: Submission, name: str, kind: str, *, refused: str, too_large: bool, member: bool) -> dict:
    preview: dict = {"name": name, "kind": kind, "refused": refused, "too_large": too_large, "html": "",
                     "src": "", "download": file_url(submission, name if member else None)}
    if refused:
        preview["download"] = ""
        return preview
    if too_large:
        return preview
    if kind in ("pdf", "image"):
        preview["src"] = file_url(submission, name if member else None, inline=True)
    elif kind == "text":
        try:
            data = (files.read_member(submission, name, limit=files.MAX_TEXT_BYTES) if member
                    else files.read_single(submission, limit=files.MAX_TEXT_BYTES))
        except files.FileError as exc:
            if exc.status == 413:
                preview["too_large"] = True
                return preview
            raise
        preview["html"] = mark_safe(files.highlight(name, data))  # noqa: S308 -- Pygments escapes the text
    return preview


@login_required
@require_GET
def submission_files(request: SignedInHttpRequest, code: str, part: str, pk: int) -> HttpResponse:
    """The viewer page: the zip's file tree beside a preview of the chosen file (``?path=``)."""
    submission = access.access_submission(_user(request), code, part, pk)
    ctx = viewer_context(submission, request.GET.get("path"))
    return render(request, "projects/files.html", _ctx(
        request, submission.part.course, part=submission.part, submission=submission, **ctx,
        staff=is_staff_of(_user(request), submission.part.course),
    ))


@login_required
@require_GET
@xframe_options_sameorigin
# Only what showing a PDF in a frame of the site needs; the rest of the site's policy stands (settings).
@csp_replace({"object-src": ["'self'"], "frame-ancestors": ["'self'"]})  # type: ignore[arg-type]
def submission_file(request: HttpRequest, code: str, part: str, pk: int) -> HttpResponseBase:
    """The bytes of the upload, or of one member (``?path=``); an attachment unless ``?inline=1`` may show it."""
    submission = access.access_submission(_user(request), code, part, pk)
    name = request.GET.get("path")
    inline = request.GET.get("inline") == "1"
    try:
        if name is None:  # the upload itself, streamed from private storage
            data_name = files.download_name(submission)
            stored = files.stored_path(submission)
            kind = "application/zip" if files.is_zip(submission) else files.content_type(data_name)
            response = FileResponse(open(stored, "rb"), content_type=kind)  # noqa: SIM115
            return _headers(response, data_name, inline=inline and files.inline_ok(data_name))
        if not files.is_zip(submission):
            raise files.FileError("No such file in this submission.")
        body = files.read_member(submission, name)
    except files.FileError as exc:
        if exc.status == 413:
            return HttpResponse(str(exc), status=413, content_type="text/plain; charset=utf-8")
        raise Http404(str(exc)) from None
    return _headers(HttpResponse(body, content_type=files.content_type(name)), name,
                    inline=inline and files.inline_ok(name))


def _headers(response: HttpResponseBase, name: str, *, inline: bool) -> HttpResponseBase:
    filename = name.rsplit("/", 1)[-1] or "file"
    response["Content-Disposition"] = content_disposition_header(not inline, filename) or "attachment"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _user(request: HttpRequest) -> User:
    """The logged-in user (every view here is behind login_required)."""
    return cast(User, request.user)
