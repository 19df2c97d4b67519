"""The submitted-file viewer in Chromium: the site's CSP lets the PDF frame and the highlighting through."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from projects.models import RubricCriterion

from .test_files import PDF, crafted

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_ta_grades_beside_the_files_without_csp_refusals(page, live_server, login, project, student, ta):
    sub = crafted(project, student, [("report.pdf", PDF), ("src/model.py", b"def forward(x):\n    return x\n"),
                                     ("notes.html", b"<script>document.title='pwned'</script>")],
                  slug="proposal")
    RubricCriterion.objects.create(part=sub.part, title="Clarity", points=5)
    refusals: list[str] = []
    page.on("console", lambda msg: refusals.append(msg.text) if "Content Security Policy" in msg.text else None)
    login(page, live_server, ta)
    page.goto(f"{live_server.url}/courses/ceng501-2024f/projects/parts/proposal/submissions/{sub.pk}/rubric/")
    expect(page.locator("#graded-file iframe.file-frame")).to_be_visible()  # the PDF opens first
    expect(page.get_by_label("Clarity points")).to_be_visible()  # beside the rubric
    page.get_by_role("link", name="src/model.py").click()
    keyword = page.locator(".file-code .highlight .k").first
    expect(keyword).to_have_text("def")
    expect(keyword).to_have_css("color", "rgb(0, 128, 0)")  # static/projects/pygments.css applied
    page.get_by_role("link", name="notes.html").click()
    expect(page.locator(".file-code")).to_contain_text("document.title")  # shown as source, not run
    assert page.title() != "pwned"
    assert refusals == [], refusals


def test_viewer_and_harness_pages_have_no_serious_accessibility_violation(page, live_server, login, project,
                                                                           student, instructor):
    from courseapp.tests.test_accessibility import axe_violations

    sub = crafted(project, student, [("src/model.py", b"# a comment\nimport os\nx = 'text' + str(1)\n"),
                                     ("report.pdf", PDF)])
    bundle = sub.part.harness
    login(page, live_server, instructor)
    base = f"{live_server.url}/courses/ceng501-2024f/projects/parts/final-code"
    found = {}
    for path in (f"/submissions/{sub.pk}/files/?path=src/model.py", f"/submissions/{sub.pk}/files/",
                 f"/harness/{bundle.pk}/"):
        violations = axe_violations(page, base + path)
        if violations:
            found[path] = violations
    assert found == {}, found
