"""A student's whole journey in Chromium, graded by a real worker (Redis, else the filesystem broker).

Drop a zip on the upload page, see the progress bar finish, land on the status
page, watch the status change from queued/running to succeeded while the page
polls, and read the per-test results the visibility rules allow.
"""

from __future__ import annotations

import base64

import pytest

# Locator assertions run in Playwright's own script world, which the pages' CSP does not bind
# (a string predicate in wait_for_function would be eval, which the CSP refuses).
from playwright.sync_api import expect

from projects.models import RunStatus, Submission

from .conftest import sample_zip

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DROP = """([name, b64]) => {
  const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
  const data = new DataTransfer();
  data.items.add(new File([bytes], name, {type: "application/zip"}));
  const zone = document.getElementById("dropzone");
  zone.dispatchEvent(new DragEvent("dragover", {dataTransfer: data, bubbles: true, cancelable: true}));
  zone.dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true, cancelable: true}));
}"""


def test_student_uploads_watches_the_status_and_sees_results(
    page, live_server, login, student, echo_part, start_worker
):
    login(page, live_server, student)
    page.goto(f"{live_server.url}/courses/ceng501-2024f/projects/")
    page.click("text=Echo exercise")
    page.wait_for_load_state("load")  # upload.js has run
    assert page.locator("h1").inner_text() == "Echo exercise"

    page.evaluate(DROP, ["slow.zip", base64.b64encode(sample_zip("slow")).decode()])
    assert "slow.zip" in page.locator("#chosen").inner_text()
    page.click("#upload-button")
    page.wait_for_url("**/projects/parts/echo/submissions/*/", timeout=60_000)
    assert page.locator("#upload-progress").count() == 0  # left the upload page after 100 %

    # No worker yet, so the job waits in the queue whatever the machine's speed; the worker
    # starts while the page is open, and the page must follow it without a reload.
    first = page.locator("#run-status").inner_text()
    assert first == "Queued", first
    # status.js swaps in the server-rendered live part (#submission-live) as the run goes on.
    page.evaluate("""() => { window.seenStatuses = [];
      new MutationObserver(() => window.seenStatuses.push(document.getElementById('run-status').textContent.trim()))
        .observe(document.getElementById('submission-live'), {childList: true, characterData: true, subtree: true}); }""")
    start_worker()
    expect(page.locator("#run-status")).to_have_text("Succeeded", timeout=180_000)
    seen = [first, *page.evaluate("window.seenStatuses")]
    assert seen[-1] == "Succeeded" and len(set(seen)) >= 2, seen  # the page changed without a reload
    log_tail = page.locator("#log-tail").inner_text()
    assert "score step ended: ok" in log_tail  # the log says how far it got, but not the withheld total
    assert "completed" not in log_tail and "4 / 4" not in log_tail
    rows = page.locator("#tests tbody tr")
    assert rows.count() == 2  # "key c" after the due date, "key d" hidden: nothing shown of them
    assert "key a" in rows.nth(0).inner_text() and "key b" in rows.nth(1).inner_text()
    assert "2 more test(s)" in page.locator("#withheld").inner_text()
    assert "withheld" in page.locator("#points").inner_text()

    submission = Submission.objects.get(part=echo_part)
    assert submission.submitter == student and submission.via == "web"
    assert submission.runs.get().status == RunStatus.SUCCEEDED


def test_refused_upload_shows_the_reason_on_the_page(page, live_server, login, student, echo_part):
    echo_part.project.max_upload_mb = 1
    echo_part.project.save()
    login(page, live_server, student)
    page.goto(f"{live_server.url}/courses/ceng501-2024f/projects/parts/echo/")
    big = base64.b64encode(b"x" * (1024 * 1024 + 10)).decode()
    page.evaluate(DROP, ["big.zip", big])
    assert "more than the 1 MB limit" in page.locator("#upload-message").inner_text()
    page.click("#upload-button")
    expect(page.locator("#upload-message")).to_contain_text("the limit is 1 MB")
    assert Submission.objects.count() == 0
