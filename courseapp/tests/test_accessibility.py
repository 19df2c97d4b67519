"""Accessibility: axe-core (vendored in courseapp/tests/vendor, MPL-2.0) finds no serious or critical
WCAG 2 A/AA violation on the main pages of each role.

axe is injected with Playwright's evaluate (a DevTools call, which the page's Content-Security-Policy
does not govern), so the pages run under their real policy.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from courseapp.models import Membership, Role
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
    pages = {
        Role.STUDENT: ["/", f"/courses/{CODE}/", f"/courses/{CODE}/schedule/", f"/courses/{CODE}/grades/mine/",
                       f"/courses/{CODE}/quizzes/", f"/courses/{CODE}/projects/",
                       f"/courses/{CODE}/projects/parts/{part}/", "/account/tokens/"],
        Role.TA: [f"/courses/{CODE}/grades/", f"/courses/{CODE}/quizzes/{quiz.pk}/grading/"],
        Role.INSTRUCTOR: [f"/courses/{CODE}/grades/", f"/courses/{CODE}/grades/setup/",
                          f"/courses/{CODE}/roster/", f"/courses/{CODE}/quizzes/bank/",
                          f"/courses/{CODE}/quizzes/{quiz.pk}/statistics/",
                          f"/courses/{CODE}/projects/parts/{part}/"],
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
