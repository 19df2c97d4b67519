"""LTI pages: the protocol endpoints (login, launch, JWKS, deep linking) and the instructor's pages
(platform registration, roster sync, grade passback). Thin: parse, call a service, render."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from csp.decorators import csp_exempt
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from pylti1p3.contrib.django import DjangoMessageLaunch
from pylti1p3.deep_link_resource import DeepLinkResource
from pylti1p3.exception import LtiException

from courseapp.access import is_instructor_of, is_staff_of
from courseapp.models import Course
from courseapp.request_types import SignedInHttpRequest
from grading.models import GradeItem

from . import keys, passback, roster, selectors, services
from .access import access_context, access_lti_course, access_platform
from .launches import (
    DL_CLAIM,
    LaunchRefused,
    Refusal,
    frame_origin,
    launch_login,
    launch_target,
    launch_validate,
    oidc_login,
)
from .models import LineItem
from .toolconf import DatabaseLaunchDataStorage, ToolConf

logger = logging.getLogger(__name__)
REFUSED_STATUS = {Refusal.UNKNOWN_PLATFORM: 403, Refusal.UNKNOWN_DEPLOYMENT: 403, Refusal.ROLE: 403}


def _refused(request: HttpRequest, refusal: LaunchRefused) -> HttpResponse:
    logger.warning("lti launch refused (%s) from %s: %s", refusal.reason,
                   request.META.get("REMOTE_ADDR", "?"), refusal.detail[:500])
    return render(request, "lti/refused.html", {"refusal": refusal, "site_url": request.build_absolute_uri("/")},
                  status=REFUSED_STATUS.get(refusal.reason, 400))


def tool_urls(request: HttpRequest) -> dict[str, str]:
    """What to paste into the platform's tool form."""
    return {
        "tool_url": request.build_absolute_uri(reverse("lti-launch")),
        "login_url": request.build_absolute_uri(reverse("lti-login")),
        "redirect_uris": request.build_absolute_uri(reverse("lti-launch")),
        "jwks_url": request.build_absolute_uri(reverse("lti-jwks")),
        "deep_link_url": request.build_absolute_uri(reverse("lti-launch")),
    }


# --- Protocol endpoints ------------------------------------------------------------------

# PyLTI1p3's cookie check (the page that offers a new window when the frame has no cookies)
# is its own HTML with an inline script; it carries no user content.
@csp_exempt()
@csrf_exempt
@xframe_options_exempt
@never_cache
@require_http_methods(["GET", "POST"])
def login_initiation(request: HttpRequest) -> HttpResponse:
    """Step 1 of a launch (OIDC third-party initiated login): redirect to the platform's auth URL."""
    target = request.POST.get("target_link_uri") or request.GET.get("target_link_uri") or ""
    launch_url = request.build_absolute_uri(reverse("lti-launch"))
    if not (request.POST.get("iss") or request.GET.get("iss")):
        return _refused(request, LaunchRefused(Refusal.INVALID, "login without iss"))
    try:
        return oidc_login(request, launch_url=launch_url)
    except LaunchRefused as refusal:
        refusal.detail += f" (target {target[:200]})"
        return _refused(request, refusal)


@csrf_exempt
@xframe_options_exempt
@never_cache
@require_POST
def launch(request: HttpRequest) -> HttpResponse:
    """Step 2: the platform POSTs the signed id_token. A valid launch signs the person in."""
    try:
        message_launch, platform = launch_validate(request)
        data = message_launch.get_launch_data()
        outcome = launch_login(platform=platform, data=data)
    except LaunchRefused as refusal:
        return _refused(request, refusal)
    login(request, outcome.user, backend="django.contrib.auth.backends.ModelBackend")
    request.session["lti"] = {"platform": platform.pk, "frame_origin": frame_origin(platform)}
    if message_launch.is_deep_link_launch():
        if outcome.role != "instructor":
            return _refused(request, LaunchRefused(Refusal.ROLE, "deep linking by a non-instructor"))
        request.session["lti_deep_link"] = {"launch_id": message_launch.get_launch_id(),
                                            "course": outcome.course.code}
        return redirect("lti-deep-link")
    target = launch_target(data=data, course=outcome.course)
    if target.rstrip("/").endswith("/grades") and not is_staff_of(outcome.user, outcome.course):
        target = reverse("grading-mine", args=[outcome.course.code])
    return HttpResponseRedirect(target)


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """The tool's public keys (current and previous): platforms verify our signatures with them."""
    response = JsonResponse(keys.jwks())
    response["Cache-Control"] = "public, max-age=300"
    return response


def _deep_link_choices(course: Course) -> list[dict]:
    from projects.models import ProjectPart
    from quizzes.models import Quiz

    choices = [{"key": "grades", "title": f"{course.number} grades", "kind": "Grades page",
                "target": f"/courses/{course.code}/grades/"}]
    for quiz in Quiz.objects.filter(course=course).order_by("title"):
        choices.append({"key": f"quiz-{quiz.pk}", "title": quiz.title, "kind": "Quiz",
                        "target": reverse("quizzes:detail", args=[course.code, quiz.pk])})
    for part in ProjectPart.objects.filter(course=course).order_by("name"):
        choices.append({"key": f"part-{part.pk}", "title": part.name, "kind": "Project part",
                        "target": reverse("projects:part", args=[course.code, part.slug])})
    return choices


@xframe_options_exempt
@login_required
@require_http_methods(["GET", "POST"])
def deep_link(request: SignedInHttpRequest) -> HttpResponse:
    """Deep linking: the instructor picks what Moodle places as an activity; we sign the answer."""
    pending = request.session.get("lti_deep_link")
    if not pending:
        return _refused(request, LaunchRefused(Refusal.INVALID, "deep link page without a deep-linking launch"))
    course = get_object_or_404(Course, code=pending["course"])
    if not is_instructor_of(request.user, course):
        raise PermissionDenied("Only the course's instructor may place activities.")
    choices = _deep_link_choices(course)
    if request.method == "GET":
        return render(request, "lti/deep_link.html", {"course": course, "choices": choices})
    picked = [c for c in choices if c["key"] in set(request.POST.getlist("choice"))]
    if not picked:
        return render(request, "lti/deep_link.html", {"course": course, "choices": choices,
                                                      "error": "Pick at least one thing to place."}, status=400)
    try:
        message_launch = DjangoMessageLaunch.from_cache(
            pending["launch_id"], request, ToolConf(), launch_data_storage=DatabaseLaunchDataStorage())
        launch_data: Mapping[str, Any] = message_launch.get_launch_data()  # any claim, read defensively
        settings = launch_data.get(DL_CLAIM) or {}
        if not settings.get("accept_multiple", True):
            picked = picked[:1]
        launch_url = request.build_absolute_uri(reverse("lti-launch"))
        resources = [
            DeepLinkResource().set_url(launch_url).set_title(c["title"]).set_custom_params({"target": c["target"]})
            for c in picked
        ]
        html = message_launch.get_deep_link().output_response_form(resources)
    except LtiException as exc:
        return _refused(request, LaunchRefused(Refusal.EXPIRED, f"deep link launch lost: {exc}"))
    del request.session["lti_deep_link"]
    logger.info("lti deep link in %s by %s: %s", course.code, request.user.username, [c["key"] for c in picked])
    response = HttpResponse(html)
    # PyLTI1p3's answer is a form that posts the signed JWT to the platform by an inline
    # script: another origin's form action. No user content is in it.
    response._csp_exempt = True  # type: ignore[attr-defined]
    return response


# --- The instructor's pages ---------------------------------------------------------------

@login_required
def home(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access_lti_course(request.user, code)
    return render(request, "lti/home.html", {
        "course": course, "platforms": selectors.platforms_of(course=course),
        "contexts": selectors.contexts_of(course=course), "urls": tool_urls(request),
    })


@login_required
@require_http_methods(["GET", "POST"])
def platform_edit(request: SignedInHttpRequest, code: str, platform_id: int | None = None) -> HttpResponse:
    course = access_lti_course(request.user, code)
    platform = access_platform(request.user, code, platform_id) if platform_id else None
    errors: dict[str, str] = {}
    values: Mapping[str, object] | None = request.POST if request.method == "POST" else None
    if request.method == "POST":
        if "delete" in request.POST and platform is not None:
            services.platform_delete(platform=platform, by=request.user)
            messages.success(request, "Platform removed. Its users keep their accounts and course memberships.")
            return redirect("lti-home", code)
        try:
            platform = services.platform_save(course=course, by=request.user, values=request.POST.dict() | {
                "deployment_ids": request.POST.get("deployment_ids", "")}, platform=platform)
            messages.success(request, f"Saved {platform.name}.")
            return redirect("lti-home", code)
        except services.PlatformInvalid as exc:
            errors = exc.errors
    elif platform is not None:
        values = {
            "name": platform.name, "issuer": platform.issuer, "client_id": platform.client_id,
            "auth_login_url": platform.auth_login_url, "auth_token_url": platform.auth_token_url,
            "key_set_url": platform.key_set_url, "auth_audience": platform.auth_audience,
            "match_by_email": platform.match_by_email, "match_by_student_number": platform.match_by_student_number,
            "deployment_ids": "\n".join(d.deployment_id for d in platform.deployments.all()),
        }
    return render(request, "lti/platform_form.html", {
        "course": course, "platform": platform, "values": values or {}, "errors": errors, "urls": tool_urls(request),
    }, status=400 if errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def roster_sync(request: SignedInHttpRequest, code: str, context_id: int) -> HttpResponse:
    """GET: preview what the platform's roster would change. POST: apply it (all or nothing)."""
    context = access_context(request.user, code, context_id)
    if request.method == "POST":
        sync = roster.roster_sync_apply(context=context, by=request.user,
                                        expected_digest=request.POST.get("digest") or None)
        if sync.status == "applied":
            messages.success(request, "Roster synced: " + ", ".join(f"{k} {v}" for k, v in sync.counts.items()))
        else:
            messages.error(request, "Nothing changed: " + " ".join(sync.errors[:5]))
        return redirect("lti-roster", code, context_id)
    preview, problem = None, ""
    try:
        preview = roster.roster_sync_preview(context=context)
    except roster.RosterUnavailable as exc:
        problem = str(exc)
    return render(request, "lti/roster.html", {
        "course": context.course, "context": context, "preview": preview, "problem": problem,
        "syncs": selectors.last_syncs(context=context),
    })


@login_required
@require_http_methods(["GET", "POST"])
def passback_page(request: SignedInHttpRequest, code: str, context_id: int) -> HttpResponse:
    """Which items go back to the platform, what was sent (and what failed); Send now."""
    context = access_context(request.user, code, context_id)
    if request.method == "POST":
        if "choose" in request.POST:
            try:
                ids = [int(v) for v in request.POST.getlist("items")]
                passback.line_items_choose(context=context, grade_item_ids=ids, by=request.user)
                messages.success(request, "Saved. The course total and the chosen items are passed back.")
            except ValueError as exc:
                messages.error(request, str(exc))
        else:
            result = passback.passback_queue(context=context)
            text = f"{len(result.queued)} score(s) queued."
            if result.without_account:
                text += (f" {result.without_account} score(s) belong to students the platform has not linked yet "
                         "(sync the roster, or they launch once).")
            messages.success(request, text)
            for problem in result.unpublished:
                messages.error(request, f"The platform refused a column: {problem}")
        return redirect("lti-passback", code, context_id)
    lines = list(selectors.line_items_with_counts(context=context))
    chosen = {line.grade_item_id for line in lines if line.enabled and line.grade_item_id}
    items = GradeItem.objects.filter(course=context.course).order_by("category__position", "position", "id")
    return render(request, "lti/passback.html", {
        "course": context.course, "context": context, "lines": lines, "items": items, "chosen": chosen,
        "failed": selectors.failed_posts(context=context),
    })


@login_required
def line_item_posts(request: SignedInHttpRequest, code: str, context_id: int, line_id: int) -> HttpResponse:
    context = access_context(request.user, code, context_id)
    line = get_object_or_404(LineItem, pk=line_id, context=context)
    return render(request, "lti/posts.html", {
        "course": context.course, "context": context, "line": line, "posts": selectors.posts_of(line=line),
    })
