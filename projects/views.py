"""Server-rendered project pages. Thin: check access, call one service or selector, render.

The upload form posts here when JavaScript is off; with JavaScript the page
sends the files to the API with a progress bar (static/projects/upload.js) and
the submission page polls the API for live status (static/projects/status.js).
"""

from __future__ import annotations

from decimal import Decimal

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from courseapp.access import access_course, is_staff_of, role_in
from courseapp.models import Role, User
from courseapp.request_types import SignedInHttpRequest

from . import access, datasets, environments, selectors, serializers, services, trials
from .access import TeamChange
from .models import Dataset, EnvState, HarnessBundle, Project, ProjectPart, RubricCriterion, Team


def _ctx(request: SignedInHttpRequest, course, **extra) -> dict:
    role = role_in(request.user, course)
    return {"course": course, "role": role, "is_staff": role in (Role.INSTRUCTOR, Role.TA),
            "is_instructor": role == Role.INSTRUCTOR, **extra}


@login_required
def projects_home(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access_course(request.user, code)
    projects = list(Project.objects.filter(course=course).prefetch_related("parts__grade_item"))
    for project in projects:
        # read by projects/home.html; not a field of Project
        project.my_membership = selectors.current_membership(  # type: ignore[attr-defined]
            project=project, user=request.user)
    return render(request, "projects/home.html", _ctx(request, course, projects=projects))


@login_required
def team_page(request: SignedInHttpRequest, code: str, project: str) -> HttpResponse:
    if request.method == "POST":
        return _team_change(request, code, project)
    project_obj = access.access_project(request.user, code, project)
    course = project_obj.course
    staff = is_staff_of(request.user, course)
    context = _ctx(request, course, project=project_obj,
                   membership=selectors.current_membership(project=project_obj, user=request.user))
    if context["membership"]:
        context["teammates"] = selectors.current_members(team=context["membership"].team)
    if staff:
        context["teams"] = selectors.teams_with_members(project=project_obj)
        context["unassigned"] = selectors.students_without_team(project=project_obj)
    return render(request, "projects/team.html", context)


def _team_change(request: SignedInHttpRequest, code: str, project: str) -> HttpResponse:
    """The team page's forms: one ``action`` each; access decides who may (students, or the instructor)."""
    action = request.POST.get("action", "")
    if action not in TeamChange.values:
        return HttpResponseBadRequest(f"Unknown team action “{action}”; send one of "
                                      f"{', '.join(TeamChange.values)}.", content_type="text/plain")
    change = TeamChange(action)
    project_obj, role = access.access_team_change(request.user, code, project, change)
    user = request.user
    try:
        if change == TeamChange.CREATE:
            services.team_create(project=project_obj, name=request.POST.get("name", ""), by=user,
                                 join=role == Role.STUDENT)
            messages.success(request, "Team created.")
        elif change == TeamChange.JOIN:
            team = services.team_join(project=project_obj, code=request.POST.get("code", ""), user=user)
            messages.success(request, f"You joined {team.name}.")
        elif change == TeamChange.LEAVE:
            team = services.team_leave(project=project_obj, user=user)
            messages.success(request, f"You left {team.name}; your past submissions stay in your history.")
        else:
            student = _course_student(project_obj.course, request.POST.get("student"))
            team_id = request.POST.get("team") or None
            chosen = Team.objects.filter(project=project_obj, pk=team_id).first() if team_id else None
            if team_id and chosen is None:
                raise services.ProjectError("Choose a team of this project.")
            services.team_assign(project=project_obj, student=student, team=chosen, by=user)
            messages.success(request, f"{student} is now in {chosen.name if chosen else 'no team'}.")
    except services.ProjectError as exc:
        messages.error(request, str(exc))
    return redirect("projects:team", code, project)


def _course_student(course, user_id) -> User:
    try:
        return User.objects.get(pk=int(user_id), memberships__course=course, memberships__role=Role.STUDENT)
    except (TypeError, ValueError, User.DoesNotExist):
        raise services.ProjectError("Choose a student of this course.") from None


@login_required
def part_page(request: SignedInHttpRequest, code: str, part: str) -> HttpResponse:
    if request.method == "POST":  # the upload form without JavaScript
        part_obj = access.access_part_for_submitting(request.user, code, part)
        try:
            submission = services.submission_create(part=part_obj, user=request.user,
                                                    uploads=request.FILES.getlist("file"))
        except services.ProjectError as exc:
            messages.error(request, str(exc))
            return redirect("projects:part", code, part)
        return redirect("projects:submission", code, part, submission.pk)
    part_obj = access.access_part(request.user, code, part)
    course = part_obj.course
    staff = is_staff_of(request.user, course)
    scores = selectors.part_submissions(part=part_obj, visible=access.visible_submissions(request.user, part_obj))
    latest = selectors.latest_runs([s.submission for s in scores])
    positions = selectors.queue_positions(latest.values())
    now = timezone.now()
    rows = [serializers.submission_data(s, staff=staff, now=now, latest=latest.get(s.submission.pk),
                                        positions=positions) for s in scores]
    membership = None if staff else selectors.current_membership(project=part_obj.project, user=request.user)
    return render(request, "projects/part.html", _ctx(
        request, course, part=part_obj, project=part_obj.project, rows=rows, membership=membership,
        max_upload_mb=part_obj.project.max_upload_mb,
        environments=environments.bundle_environments(part_obj.harness) if staff else [],
        api_url=f"/api/courses/{course.code}/projects/{part_obj.slug}/submissions/",
    ))


@login_required
def submission_page(request: SignedInHttpRequest, code: str, part: str, pk: int) -> HttpResponse:
    submission = access.access_submission(request.user, code, part, pk)
    part_obj = submission.part
    staff = is_staff_of(request.user, part_obj.course)
    score = selectors.submission_scores(part=part_obj, submissions=[submission])[submission.pk]
    latest = selectors.latest_run(submission)
    data = serializers.submission_data(score, staff=staff, now=timezone.now(), latest=latest)
    if request.GET.get("fragment") == "live":
        # The page's live part alone, for projects/status.js to swap in while the run goes on.
        response = render(request, "projects/_submission_live.html", {"data": data})
        response["Cache-Control"] = "no-store"
        return response
    runs = list(submission.runs.defer("stdout", "stderr", "results").order_by("-id")) if staff else []
    return render(request, "projects/submission.html", _ctx(
        request, part_obj.course, part=part_obj, submission=submission, data=data, runs=runs,
    ))


@login_required
@require_POST
def submission_rerun(request: SignedInHttpRequest, code: str, part: str, pk: int) -> HttpResponse:
    submission = access.access_submission_as_instructor(request.user, code, part, pk)
    try:
        services.submission_rerun(submission=submission, by=request.user)
        messages.success(request, f"Submission #{submission.number} of {submission.team} queued for a rerun.")
    except services.ProjectError as exc:
        messages.error(request, str(exc))
    return redirect("projects:submission", code, part, pk)


@login_required
@require_POST
def part_rerun(request: SignedInHttpRequest, code: str, part: str) -> HttpResponse:
    part_obj = access.access_part_as_instructor(request.user, code, part)
    try:
        count = services.part_rerun(part=part_obj, by=request.user)
        messages.success(request, f"{count} submissions queued on the rerun queue.")
    except services.ProjectError as exc:
        messages.error(request, str(exc))
    return redirect("projects:part", code, part)


@login_required
@require_POST
def harness_upload(request: SignedInHttpRequest, code: str, part: str) -> HttpResponse:
    part_obj = access.access_part_as_instructor(request.user, code, part)
    upload = request.FILES.get("harness")
    try:
        if upload is None:
            raise services.ProjectError("Choose the harness bundle (.zip with harness.toml at its root).")
        assert upload.name is not None  # request.FILES holds only parts with a file name (MultiPartParser)
        bundle, live = trials.harness_candidate_upload(part=part_obj, source=upload, by=request.user,
                                                       filename=upload.name)
    except services.ProjectError as exc:
        messages.error(request, str(exc))
        return redirect("projects:part", code, part)
    if live:
        messages.success(request, f"Harness {bundle} ({bundle.sha256[:12]}) is now used for new submissions.")
    else:
        messages.success(request, f"Harness {bundle} ({bundle.sha256[:12]}) is uploaded as a candidate: the live "
                                  "version stays live. Test-run it on a sample below, then make it live.")
    return redirect("projects:harness", code, part, bundle.pk)


@login_required
def harness_page(request: SignedInHttpRequest, code: str, part: str, pk: int) -> HttpResponse:
    """A harness version: its environment on each node (state, live log, packages) and its datasets."""
    bundle = access.access_harness(request.user, code, part, pk)
    part_obj = bundle.part
    harness = environments.bundle_harness(bundle)
    rows = environments.bundle_environments(bundle)
    refs = datasets.datasets_for(course=part_obj.course, harness=harness) if harness else {}
    declared = [{"mount": mount, "wanted": wanted, "ref": refs.get(wanted.partition("@")[0])}
                for mount, wanted in (harness.data if harness else ())]
    trial_rows = list(bundle.trials.select_related("requested_by")[:20])
    return render(request, "projects/harness.html", _ctx(
        request, part_obj.course, part=part_obj, bundle=bundle, harness=harness, environments=rows,
        declared=declared, building=any(r.state == EnvState.BUILDING for r in rows)
        or any(not t.finished_at and t.requested_at > timezone.now() - trials.REFRESH_FOR for t in trial_rows),
        trials=trial_rows, versions=list(HarnessBundle.objects.filter(part=part_obj)),
    ))


@login_required
def datasets_page(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """The course's datasets (staff); the instructor uploads new ones here in chunks."""
    course = access.access_datasets(request.user, code)
    rows = list(Dataset.objects.filter(course=course).order_by("name", "-uploaded_at", "-id"))
    return render(request, "projects/datasets.html", _ctx(request, course, datasets=rows))


@login_required
def part_runs(request: SignedInHttpRequest, code: str, part: str) -> HttpResponse:
    part_obj = access.access_part_as_staff(request.user, code, part)
    runs = list(selectors.runs_of_part(part=part_obj)[:500])
    positions = selectors.queue_positions(runs)
    for run in runs:
        run.position = positions.get(run.pk)
    return render(request, "projects/runs.html", _ctx(request, part_obj.course, part=part_obj, runs=runs))


@login_required
def run_page(request: SignedInHttpRequest, code: str, pk: int) -> HttpResponse:
    run = access.access_run_as_staff(request.user, code, pk)
    return render(request, "projects/run.html", _ctx(request, run.submission.part.course, run=run,
                                                       part=run.submission.part))


@login_required
def rubric_page(request: SignedInHttpRequest, code: str, part: str, pk: int) -> HttpResponse:
    submission = access.access_submission_for_rubric(request.user, code, part, pk)
    part_obj: ProjectPart = submission.part
    criteria = list(RubricCriterion.objects.filter(part=part_obj))
    existing = getattr(submission, "rubric_grade", None) if hasattr(submission, "rubric_grade") else None
    if request.method == "POST":
        marks: dict[int, tuple[Decimal | str | None, str]] = {}
        try:
            for criterion in criteria:
                raw = request.POST.get(f"points-{criterion.pk}", "").strip()
                # the service reads the text with the site's points parser (7.5 or 7,5)
                marks[criterion.pk] = (raw or None, request.POST.get(f"comment-{criterion.pk}", ""))
            services.rubric_grade_save(submission=submission, marks=marks,
                                       comment=request.POST.get("comment", ""), by=request.user)
            messages.success(request, f"Rubric saved for {submission.team}; the gradebook is updated.")
            return redirect("projects:rubric", code, part, pk)
        except services.ProjectError as exc:
            messages.error(request, str(exc))
    marks_by_criterion = {m.criterion_id: m for m in existing.marks.all()} if existing else {}
    rows = [(c, marks_by_criterion.get(c.pk)) for c in criteria]
    return render(request, "projects/rubric.html", _ctx(
        request, part_obj.course, part=part_obj, submission=submission, rows=rows, existing=existing,
        members=list(submission.members.all()), **_viewer(submission, request.GET.get("path")),
    ))


def _viewer(submission, path):
    from .views_files import viewer_context  # views_files imports this module

    return viewer_context(submission, path, page=reverse(
        "projects:rubric", args=[submission.part.course.code, submission.part.slug, submission.pk]))
