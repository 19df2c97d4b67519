"""Harness versions on their page: test-run one on a sample, make one live (instructor; projects/trials.py)."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from courseapp.models import User

from . import access, services, trials
from .models import HarnessBundle


@login_required
@require_POST
def harness_trial(request: HttpRequest, code: str, part: str, pk: int) -> HttpResponse:
    """Queue a test-run of this version on the uploaded sample; the result shows on the harness page."""
    part_obj = access.access_part_as_instructor(_user(request), code, part)
    bundle = get_object_or_404(HarnessBundle, pk=pk, part=part_obj)
    try:
        trial = trials.trial_create(bundle=bundle, uploads=request.FILES.getlist("sample"), by=_user(request))
        messages.success(request, f"Test-run {trial.pk} queued on {trial.sample_name}; this page refreshes "
                                  "until it ends.")
    except services.ProjectError as exc:
        messages.error(request, str(exc))
    return redirect("projects:harness", code, part, pk)


@login_required
@require_POST
def harness_live(request: HttpRequest, code: str, part: str, pk: int) -> HttpResponse:
    """Grade new submissions with this version from now on."""
    part_obj = access.access_part_as_instructor(_user(request), code, part)
    bundle = get_object_or_404(HarnessBundle, pk=pk, part=part_obj)
    try:
        trials.harness_make_live(part=part_obj, bundle=bundle, by=_user(request))
        messages.success(request, f"Harness {bundle} is live: new submissions are graded with it. Earlier "
                                  "grades stay until you rerun the part.")
    except services.ProjectError as exc:
        messages.error(request, str(exc))
    return redirect("projects:harness", code, part, pk)


def _user(request: HttpRequest) -> User:
    """The logged-in user (every view here is behind login_required)."""
    return cast(User, request.user)
