"""Server-rendered course pages. Thin: parse, call an access_/selector/service, render."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import access, selectors, services, throttling, tokens
from .forms import RosterUploadForm
from .models import Course, Membership, Role
from .request_types import SignedInHttpRequest


@login_required
def dashboard(request: SignedInHttpRequest) -> HttpResponse:
    cards = selectors.dashboard_cards(user=request.user, now=timezone.now())
    return render(request, "courseapp/dashboard.html", {"cards": cards})


@login_required
def course_detail(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access.access_course(request.user, code)
    return render(request, "courseapp/course_detail.html", {
        "course": course,
        "role": access.role_in(request.user, course),
        "syllabus": selectors.course_syllabus(course=course),
        "schedule": selectors.course_schedule(course=course, now=timezone.now()),
    })


def _feed_url(request: HttpRequest, course: Course) -> str:
    path = reverse("courseapp-calendar", kwargs={"code": course.code, "token": course.calendar_token})
    return request.build_absolute_uri(path)


@login_required
def schedule(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access.access_course(request.user, code)
    feed_url = _feed_url(request, course)
    return render(request, "courseapp/schedule.html", {
        "course": course,
        "role": access.role_in(request.user, course),
        "schedule": selectors.course_schedule(course=course, now=timezone.now()),
        "feed_url": feed_url,
        "webcal_url": "webcal://" + feed_url.split("://", 1)[1],
    })


@require_GET
def calendar_feed(request: HttpRequest, code: str, token: str) -> HttpResponse:
    """The iCalendar feed; no session: the secret token in the URL is the credential."""
    course = Course.objects.filter(code=code).first()
    if course is None or not secrets.compare_digest(token, course.calendar_token):
        raise Http404("No such calendar.")
    text = selectors.course_calendar(
        course=course, base_url=request.build_absolute_uri("/"), now=timezone.now()
    )
    response = HttpResponse(text.encode("utf-8"), content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{course.code}.ics"'
    response["Cache-Control"] = "private, max-age=900"
    return response


@login_required
def roster(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access.access_course_as_staff(request.user, code)
    memberships = list(selectors.course_enrollments(course=course))
    role = access.role_in(request.user, course)
    locked = throttling.locked_out_usernames(usernames=[m.user.username for m in memberships])
    live_tokens = tokens.live_token_counts(user_ids=[m.user_id for m in memberships if m.role == Role.STUDENT])
    for m in memberships:  # read by courseapp/roster.html; neither is a field of Membership
        m.locked_until = locked.get(m.user.username)  # type: ignore[attr-defined]
        m.live_tokens = live_tokens.get(m.user_id, 0)  # type: ignore[attr-defined]
    return render(request, "courseapp/roster.html", {
        "course": course,
        "role": role,
        "memberships": memberships,
        "students": sum(1 for m in memberships if m.role == Role.STUDENT),
        "locked": len(locked),
    })


@login_required
@require_POST
def roster_unlock(request: SignedInHttpRequest, code: str, username: str) -> HttpResponse:
    """The instructor lets a member locked out by failed logins try again now."""
    course = access.access_course_as_instructor(request.user, code)
    member = Membership.objects.filter(course=course, user__username=username).select_related("user").first()
    if member is None:
        raise Http404("No such member of this course.")
    throttling.login_lock_clear(course=course, user=member.user, by=request.user)
    messages.success(request, f"{member.user.username} can log in again.")
    return redirect("courseapp-roster", code=course.code)


@login_required
@require_POST
def roster_revoke_tokens(request: SignedInHttpRequest, code: str, username: str) -> HttpResponse:
    """The instructor revokes every API token of a student of the course (e.g. one that leaked)."""
    course = access.access_course_as_instructor(request.user, code)
    member = (Membership.objects.filter(course=course, user__username=username, role=Role.STUDENT)
              .select_related("user").first())
    if member is None:
        raise Http404("No such student in this course.")
    count = tokens.tokens_revoke_all(user=member.user)
    messages.success(request, f"Revoked {count} API token{'s' if count != 1 else ''} of {member.user.username}.")
    return redirect("courseapp-roster", code=course.code)


def _session_key(course: Course) -> str:
    return f"courseapp-roster-import-{course.pk}"


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@login_required
@require_http_methods(["GET", "POST"])
def roster_import(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Upload (GET form, POST file or text) and preview; the upload waits in the session for apply."""
    course = access.access_course_as_instructor(request.user, code)
    context = {"course": course, "role": access.role_in(request.user, course)}
    if request.method == "GET":
        return render(request, "courseapp/roster_import.html", {**context, "form": RosterUploadForm()})
    form = RosterUploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return render(request, "courseapp/roster_import.html", {**context, "form": form}, status=400)
    csv_text = form.cleaned_data["csv_text"]
    preview = services.roster_import_preview(course=course, csv_text=csv_text)
    request.session[_session_key(course)] = {"csv": csv_text, "digest": _digest(csv_text)}
    fix_form = RosterUploadForm(initial={"text": csv_text})
    return render(request, "courseapp/roster_preview.html", {
        **context, "preview": preview, "digest": _digest(csv_text), "form": fix_form,
    }, status=200 if preview.ok else 422)


@login_required
@require_POST
def roster_import_apply(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access.access_course_as_instructor(request.user, code)
    pending = request.session.get(_session_key(course))
    if not pending or pending.get("digest") != request.POST.get("digest"):
        messages.error(request, "That preview is no longer current (another upload replaced it). "
                                "Upload the file again and apply from its preview.")
        return redirect("courseapp-roster-import", code=course.code)
    try:
        result = services.roster_import_apply(course=course, csv_text=pending["csv"], by=request.user)
    except services.RosterImportError as exc:
        return render(request, "courseapp/roster_preview.html", {
            "course": course, "role": access.role_in(request.user, course), "preview": exc.preview,
            "digest": pending["digest"], "form": RosterUploadForm(initial={"text": pending["csv"]}),
        }, status=422)
    del request.session[_session_key(course)]
    messages.success(request, (
        f"Roster imported: {result.created} new accounts, {result.enrolled} enrolled, "
        f"{result.updated} updated, {result.unchanged} unchanged."
    ))
    return redirect("courseapp-roster", code=course.code)


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for the load balancer and `make run`: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})
