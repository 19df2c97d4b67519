"""Student pages fit a 390 px phone: the page never scrolls sideways; wide tables scroll in their own box."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from courseapp.models import Course, User

WIDTH = 390
# The widest elements, for the failure message: what made the page wider than the phone.
WIDEST = """() => [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth + 1 ||
               (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible'))
  .slice(0, 8).map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className + ' ' +
                   Math.round(e.getBoundingClientRect().right))"""


@pytest.fixture
def demo_course(transactional_db, settings, tmp_path):
    settings.SUBMISSIONS_ROOT = tmp_path / "submissions"
    settings.HARNESS_ROOT = tmp_path / "harnesses"
    call_command("load_demo", stdout=io.StringIO())
    return Course.objects.get()


def _graded_submission(course) -> int:
    """A submission of e2380001's team with a finished run whose log has a long unbroken line."""
    from django.utils import timezone

    from projects.models import GradingRun, HarnessBundle, ProjectPart, Submission, Team

    part = ProjectPart.objects.get(course=course, slug="final-code")
    student = User.objects.get(username="e2380001")
    team = Team.objects.get(memberships__user=student, project=part.project)
    sub = Submission.objects.create(part=part, team=team, submitter=student, number=1, submitted_at=timezone.now(),
                                    path="x/y.zip", original_name="a-rather-long-file-name-for-a-phone.zip",
                                    size_bytes=1, sha256="0" * 64)
    sub.members.add(student)
    GradingRun.objects.create(
        submission=sub, harness=HarnessBundle.objects.get(part=part), queue="cpu", time_limit_s=60,
        queued_at=timezone.now(), finished_at=timezone.now(), status="succeeded", score="17.5000", max_score="30",
        log="x" * 300, stdout="y" * 300, results={"score": 17.5, "tests": [{"name": "t" * 80, "score": 1,
                                                                          "max_score": 2, "output": "z" * 300}]})
    return sub.pk


@pytest.mark.browser
def test_student_pages_fit_a_390px_phone(page, live_server, login, demo_course):
    from projects.models import ProjectPart

    code = demo_course.code
    page.set_viewport_size({"width": WIDTH, "height": 844})
    login(page, live_server, User.objects.get(username="e2380001"))
    paths = ["/", f"/courses/{code}/quizzes/", f"/courses/{code}/projects/", f"/courses/{code}/grades/mine/",
             f"/courses/{code}/schedule/", f"/courses/{code}/"]
    paths += [f"/courses/{code}/projects/parts/{p.slug}/" for p in ProjectPart.objects.filter(course=demo_course)]
    paths += [f"/courses/{code}/projects/parts/final-code/submissions/{_graded_submission(demo_course)}/"]
    for path in paths:
        response = page.goto(live_server.url + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("load")
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= WIDTH, (path, width, page.evaluate(WIDEST))
        if path.endswith("/parts/final-code/"):  # the submissions table scrolls in its box: Points is there
            assert "17.5 / 30" in page.locator("#submissions").inner_text()


@pytest.mark.browser
def test_the_grade_grid_uses_the_windows_width(page, live_server, login, demo_course):
    page.set_viewport_size({"width": 1600, "height": 900})
    login(page, live_server, User.objects.get(username="ta.ayse"))
    page.goto(f"{live_server.url}/courses/{demo_course.code}/grades/")
    grid = page.locator(".gb-wrap")
    assert grid.evaluate("e => e.getBoundingClientRect().width") > 1400  # not the 1100 px text column
    page.set_viewport_size({"width": WIDTH, "height": 844})
    assert page.evaluate("document.scrollingElement.scrollWidth") <= WIDTH  # the grid scrolls in its box
