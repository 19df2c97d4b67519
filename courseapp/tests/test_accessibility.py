"""Accessibility: axe-core (vendored in courseapp/tests/vendor, MPL-2.0) finds no serious or critical
WCAG 2 A/AA violation on the main pages of each role.

axe is injected with Playwright's evaluate (a DevTools call, which the page's Content-Security-Policy
does not govern), so the pages run under their real policy.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from courseapp import editing
from courseapp.models import Lecture, Membership, Role
from projects.models import ProjectPart, Submission
from quizzes import services as quiz_services
from quizzes.models import Quiz

CODE = "ceng501-2024f"
AXE = (Path(__file__).parent / "vendor" / "axe.min.js").read_text(encoding="utf-8")
RUN = """async () => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}});
  return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
}"""


def axe_violations(page, url: str) -> list[dict]:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    page.wait_for_load_state("load")
    page.evaluate(AXE)
    return [v for v in page.evaluate(RUN) if v["impact"] in ("serious", "critical")]


@pytest.mark.browser
def test_the_vendored_axe_finds_a_planted_violation(demo, page, live_server, login):
    """The check can fail: an image without alt text and an unlabelled input are reported."""
    members = {m.role: m.user for m in Membership.objects.filter(course__code=CODE)}
    login(page, live_server, members[Role.STUDENT])
    page.goto(f"{live_server.url}/courses/{CODE}/")
    page.evaluate(AXE)
    page.evaluate("""() => { const i = document.createElement('input'); i.type = 'text';
                             document.querySelector('main').appendChild(i); }""")
    ids = {v["id"] for v in page.evaluate(RUN)}
    assert "label" in ids




@pytest.mark.browser
def test_main_pages_have_no_serious_or_critical_violation(demo, page, live_server, login):
    members = {m.role: m.user for m in Membership.objects.filter(course__code=CODE).order_by("-user__username")}
    quiz = Quiz.objects.filter(course__code=CODE).order_by("pk").first()
    part = "final-code"
    harness = ProjectPart.objects.get(course__code=CODE, slug=part).harness_id
    # load_demo's proposals (PDFs): the student's team's own, and one the staff grade beside the viewer
    own = Submission.objects.filter(part__slug="proposal", members=members[Role.STUDENT]).get()
    proposal = f"/courses/{CODE}/projects/parts/proposal/submissions/{own.pk}"
    # something for the announcements, history and schedule pages to show: a move, a cancellation, a post
    instructor = members[Role.INSTRUCTOR]
    first, second = Lecture.objects.filter(course__code=CODE).order_by("starts_at")[:2]
    editing.lecture_update(lecture=first, by=instructor, starts_at=first.starts_at + dt.timedelta(hours=2),
                           ends_at=first.ends_at + dt.timedelta(hours=2), room="BMB-4", topic=first.topic,
                           subtopics=first.subtopics, note="Moved for the seminar.")
    editing.lecture_cancel(lecture=second, by=instructor, note="No lecture: holiday.")
    editing.announcement_create(course=first.course, by=instructor, title="Welcome", body="**Read** the syllabus.",
                                body_format="markdown", email=False)
    # the student's attempt at the open quiz: the taking page
    now = timezone.now()
    open_quiz = Quiz.objects.get(course__code=CODE, published=True, opens_at__lte=now, closes_at__gt=now)
    attempt, _ = quiz_services.attempt_start(quiz=open_quiz, student=members[Role.STUDENT])
    pages = {
        Role.STUDENT: ["/", f"/courses/{CODE}/", f"/courses/{CODE}/schedule/", f"/courses/{CODE}/grades/mine/",
                       f"/courses/{CODE}/quizzes/", f"/courses/{CODE}/projects/",
                       f"/courses/{CODE}/projects/parts/{part}/", "/account/tokens/",
                       f"/courses/{CODE}/announcements/", f"{proposal}/files/",
                       f"/courses/{CODE}/quizzes/attempts/{attempt.pk}/"],
        Role.TA: ["/", f"/courses/{CODE}/grades/", f"/courses/{CODE}/quizzes/{quiz.pk}/grading/",
                  f"/courses/{CODE}/announcements/", f"/courses/{CODE}/history/", f"{proposal}/rubric/"],
        Role.INSTRUCTOR: ["/", f"/courses/{CODE}/grades/", f"/courses/{CODE}/grades/setup/",
                          f"/courses/{CODE}/roster/", f"/courses/{CODE}/quizzes/bank/",
                          f"/courses/{CODE}/quizzes/{quiz.pk}/statistics/",
                          f"/courses/{CODE}/projects/parts/{part}/",
                          f"/courses/{CODE}/projects/parts/{part}/harness/{harness}/",
                          f"/courses/{CODE}/edit/", f"/courses/{CODE}/schedule/new/",
                          f"/courses/{CODE}/schedule/{first.pk}/edit/",
                          f"/courses/{CODE}/schedule/{second.pk}/edit/", f"/courses/{CODE}/schedule/",
                          f"/courses/{CODE}/announcements/",
                          f"/courses/{CODE}/history/", f"{proposal}/files/", f"{proposal}/rubric/"],
    }
    found = {}
    for role, paths in pages.items():
        page.context.clear_cookies()
        login(page, live_server, members[role])
        for path in paths:
            violations = axe_violations(page, live_server.url + path)
            if violations:
                found[f"{role} {path}"] = violations
    page.context.clear_cookies()
    violations = axe_violations(page, live_server.url + "/login/")
    if violations:
        found["/login/"] = violations
    assert found == {}, found
