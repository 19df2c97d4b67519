"""A worker-level slice of the attack suite (projects/tests/attacks/, the sandbox engineer's).

Hostile submissions go through the whole path (HTTP, Redis, a real worker, the
jail); each must end with the limit named or the claim ignored, and the same
worker must then grade the next, honest submission normally.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.authtoken.models import Token

from grading.models import Grade
from projects.models import TERMINAL_STATUSES, GradingRun, RunStatus, Team

from . import realworker
from .conftest import sample_zip, zip_bytes

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ATTACKS = Path(__file__).resolve().parent / "attacks"


def attack_zip(script: str) -> bytes:
    path = ATTACKS / script
    if not path.is_file():
        pytest.skip(f"{path} is not there yet")
    return zip_bytes({"main.py": path.read_text()})


def post(user, data: bytes) -> int:
    token, _ = Token.objects.get_or_create(user=user)
    response = Client(HTTP_AUTHORIZATION=f"Token {token.key}").post(
        "/api/courses/ceng501-2024f/projects/echo/submissions/",
        {"file": SimpleUploadedFile("s.zip", data, content_type="application/zip")},
    )
    assert response.status_code == 201, response.content
    return response.json()["run"]["id"]


def test_hostile_submissions_are_contained_and_the_worker_takes_the_next_job(echo_part, start_worker):
    start_worker()
    teams = {t.name: t.memberships.first().user for t in Team.objects.filter(project=echo_part.project)}
    bomb = post(teams["Vanishing Gradients"], attack_zip("fork_bomb.py"))
    cheat = post(teams["Gradient Descenders"], attack_zip("harness/cheat/attack.py"))
    honest = post(teams["Attention Seekers"], sample_zip("correct"))

    def done():
        runs = {r.pk: r for r in GradingRun.objects.filter(pk__in=[bomb, cheat, honest])}
        return runs if all(r.status in TERMINAL_STATUSES for r in runs.values()) else None

    runs = realworker.wait_for(done, timeout=120, interval=0.2, what="the three runs")
    assert runs[bomb].status == RunStatus.FAILED and runs[bomb].limit_hit in {"pids", "memory", "cpu", "timeout"}, (
        runs[bomb].limit_hit, runs[bomb].error)
    assert runs[cheat].score == 0, runs[cheat].results  # the forged results.json claims were ignored
    assert runs[honest].status == RunStatus.SUCCEEDED and runs[honest].score == 4
    assert Grade.objects.get(item=echo_part.grade_item, student=teams["Gradient Descenders"]).points == Decimal("0")
    assert Grade.objects.get(item=echo_part.grade_item, student=teams["Attention Seekers"]).points == Decimal("8")
