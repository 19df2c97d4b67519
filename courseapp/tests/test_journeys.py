"""Persona journeys in Chromium on the demo course (`load_demo` placed around today): a student, the
instructor and a TA each walk through their week, at a laptop width (1280 px) and a phone width (390 px).

At each main step the journey asserts what the page shows and takes a full-page screenshot,
kept as an artefact: `var/artifacts/screenshots/<journey>-<width>-<step>.png`, or
`$ARTIFACTS_DIR/screenshots/...` when ARTIFACTS_DIR is set. At 390 px every page must fit the
viewport: no horizontal scrolling. What the demo lacks (an announcement, the essay's grade) is made
in the test through the project's services.
"""

from __future__ import annotations

import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from django.utils import timezone
from playwright.sync_api import expect

from courseapp.models import Announcement, Lecture, Membership, Role
from grading.models import Grade
from projects.models import ProjectPart, RubricGrade, Submission
from quizzes import services as quiz_services
from quizzes.models import Attempt, Quiz, Response

pytestmark = pytest.mark.browser

CODE = "ceng501-2024f"
WIDTHS = [1280, 390]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("ARTIFACTS_DIR") or REPO / "var" / "artifacts")
SCREENSHOTS = ARTIFACTS / "screenshots"
# A one-page PDF (the progress report part accepts .pdf)
PDF = (b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj 2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>"
       b"endobj 3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n")


class Journey:
    """One persona's walk at one width: screenshots each step and checks the page fits a phone."""

    def __init__(self, page, name: str, width: int) -> None:
        self.page, self.name, self.width = page, name, width
        page.set_viewport_size({"width": width, "height": 900 if width > 600 else 844})
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def step(self, step: str) -> Path:
        page = self.page
        page.wait_for_load_state("load")
        if self.width <= 600:
            scroll, inner = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
            assert scroll <= inner + 1, f"{self.name} at {self.width} px, step {step}: the page is {scroll} px wide " \
                                        f"({page.url})"
        path = SCREENSHOTS / f"{self.name}-{self.width}-{step}.png"
        # from the top: a sticky bar (the quiz's timer) is drawn where the page was scrolled to
        page.evaluate("() => window.scrollTo(0, 0)")
        page.screenshot(path=str(path), full_page=True)
        assert path.stat().st_size > 1000
        return path


def members(role: str):
    return [m.user for m in Membership.objects.filter(course__code=CODE, role=role)
            .select_related("user").order_by("user__username")]


def open_quiz() -> Quiz:
    now = timezone.now()
    return Quiz.objects.get(course__code=CODE, published=True, opens_at__lte=now, closes_at__gt=now)


def wait_saved(page) -> None:
    page.wait_for_selector('#save-state[data-state="saved"]', timeout=10_000)


# --- The student -------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_student_takes_the_open_quiz_submits_the_report_and_sees_the_score(demo, page, live_server, login, width):
    from courseapp import editing

    journey = Journey(page, "student", width)
    student = members(Role.STUDENT)[0]  # e2380001: has not taken the open quiz; team "Attention Seekers"
    ta = members(Role.TA)[0]
    instructor = members(Role.INSTRUCTOR)[0]
    quiz = open_quiz()
    editing.announcement_create(course=quiz.course, by=instructor, title="Room change for week 9",
                                body="We meet in BMB-4 next week.", body_format="plain", email=False)
    assert not Attempt.objects.filter(quiz=quiz, student=student).exists()

    login(page, live_server, student)
    page.goto(f"{live_server.url}/")
    open_panel = page.locator(f"#open-quizzes-{CODE}")
    expect(open_panel).to_contain_text(quiz.title)
    expect(open_panel).to_contain_text("not started")
    expect(page.locator(f"#deadlines-{CODE}")).to_contain_text("Project progress report")
    expect(page.locator(f"#announcements-{CODE}")).to_contain_text("Room change for week 9")
    expect(page.locator(f"#announcements-{CODE}")).to_contain_text("We meet in BMB-4 next week.")
    journey.step("1-dashboard")

    # The open quiz, from the dashboard's link
    open_panel.get_by_role("link", name=quiz.title).click()
    page.click("#start-attempt")
    page.wait_for_selector("#quiz-config", state="attached")
    slots = {s.question.title: s.id for s in quiz.slots.select_related("question")}
    assert len(slots) == 5

    def fieldset(title: str):
        return page.locator(f'fieldset[data-slot="{slots[title]}"]')

    fieldset("Attention scaling").get_by_label("the square root of d_k").check()
    page.fill(f"#in-{slots['Head size']}", "64")
    page.check(f'input[name="slot-{slots["Permutation"]}"][value="true"]')
    fieldset("Decoder-only").get_by_label("GPT-2").check()
    fieldset("Decoder-only").get_by_label("GPT-3").check()
    page.fill(f"#in-{slots['Why attention']}",
              "Attention is computed for all positions in parallel and links distant tokens directly, "
              "so gradients do not vanish through time.")
    wait_saved(page)
    journey.step("2-quiz-answered")
    attempt = Attempt.objects.get(quiz=quiz, student=student)
    assert Response.objects.filter(attempt=attempt).count() == 5

    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.click("#submit-attempt")
    page.wait_for_selector("#attempt-score")
    assert asked and "Submit this attempt?" in asked[0]
    # the essay waits for a grader: no score yet
    expect(page.locator("#attempt-score")).to_have_text("waiting for a grader")
    journey.step("3-quiz-submitted")
    attempt.refresh_from_db()
    assert attempt.state != "in_progress" and attempt.score is None

    # The project's next part: upload the report (a rubric part: no worker is involved)
    part = ProjectPart.objects.get(course__code=CODE, slug="progress-report")
    page.goto(f"{live_server.url}/courses/{CODE}/projects/parts/{part.slug}/")
    expect(page.locator("h1")).to_have_text("Project progress report")
    expect(page.locator("#upload-form h2")).to_have_text("Submit for Attention Seekers")
    expect(page.locator("#submissions tbody")).to_contain_text("No submissions yet.")
    page.set_input_files("#file-input", files=[{"name": "progress.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    expect(page.locator("#chosen")).to_contain_text("progress.pdf")
    journey.step("4-part-chosen")
    page.click("#upload-button")
    page.wait_for_url(f"**/projects/parts/{part.slug}/submissions/*/")
    submission = Submission.objects.get(part=part, team__name="Attention Seekers")
    assert submission.submitter == student and submission.original_name == "progress.pdf"
    journey.step("5-submission")
    page.goto(f"{live_server.url}/courses/{CODE}/projects/parts/{part.slug}/")
    rows = page.locator("#submissions tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("progress.pdf")
    expect(rows.first).to_contain_text(student.get_full_name())
    journey.step("6-part-submissions")

    # A TA grades the essay (2 of 2); every answer was right, so the score is 2 + 2 + 1 + 3 + 2
    essay = Response.objects.get(attempt=attempt, slot_id=slots["Why attention"])
    quiz_services.response_grade(response=essay, by=ta, points=Decimal("2"))
    assert Grade.objects.get(item=quiz.grade_item, student=student).points == Decimal("10")

    page.goto(f"{live_server.url}/courses/{CODE}/grades/mine/")
    expect(page.locator("h1")).to_have_text("My grades")
    cell = page.locator(f'td[data-points="{quiz.grade_item_id}"]')
    expect(cell).to_have_text("10")
    expect(cell.locator("xpath=..")).to_contain_text(quiz.title)
    journey.step("7-my-grades")


# --- The instructor ----------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_instructor_moves_and_cancels_lectures_announces_and_grades_a_pdf_with_the_rubric(
    demo, page, live_server, login, width
):
    journey = Journey(page, "instructor", width)
    instructor = members(Role.INSTRUCTOR)[0]
    tz = ZoneInfo("Europe/Istanbul")
    upcoming = list(Lecture.objects.filter(course__code=CODE, kind="lecture", starts_at__gt=timezone.now(),
                                           cancelled=False).order_by("starts_at")[:2])
    moved, cancelled = upcoming
    new_day = (moved.starts_at.astimezone(tz) + dt.timedelta(days=1)).date()

    login(page, live_server, instructor)
    page.goto(f"{live_server.url}/courses/{CODE}/schedule/")
    expect(page.locator("h1")).to_have_text("Schedule")
    journey.step("1-schedule")

    # Move the next lecture a day later, to another room
    page.locator(f"#week-{moved.week} a.edit-session").click()
    expect(page.locator("h1")).to_contain_text(moved.topic)
    page.fill("#lecture-edit [name=date]", new_day.isoformat())
    page.fill("#lecture-edit [name=room]", "BMB-4")
    page.fill("#lecture-edit [name=note]", "Moved: the department seminar takes our slot.")
    journey.step("2-lecture-edit")
    with page.expect_navigation(url=f"**/courses/{CODE}/schedule/#week-{moved.week}"):
        page.click("#lecture-edit button[type=submit]")
    row = page.locator(f"#week-{moved.week}")
    expect(row).to_contain_text("BMB-4")
    expect(row).to_contain_text(f"{new_day:%a} {new_day.day} {new_day:%b %Y}")
    expect(row.locator(".moved")).to_contain_text("Moved from")
    expect(row).to_contain_text("the department seminar takes our slot")
    moved.refresh_from_db()
    assert moved.starts_at.astimezone(tz).date() == new_day and moved.room == "BMB-4"

    # Cancel the one after it
    page.locator(f"#week-{cancelled.week} a.edit-session").click()
    page.fill("#lecture-cancel [name=note]", "Midterm week: no lecture.")
    with page.expect_navigation(url=f"**/courses/{CODE}/schedule/#week-{cancelled.week}"):
        page.click("#lecture-cancel button[type=submit]")
    row = page.locator(f"#week-{cancelled.week}")
    expect(row).to_have_class("cancelled")
    expect(row.locator(".badge")).to_have_text("cancelled")
    expect(row).to_contain_text("Midterm week: no lecture.")
    journey.step("3-schedule-changed")
    cancelled.refresh_from_db()
    assert cancelled.cancelled

    # An announcement, seen on the announcements page and the dashboard
    page.goto(f"{live_server.url}/courses/{CODE}/announcements/")
    page.fill("#announcement-form [name=title]", "Week 9 moves to Thursday")
    page.fill("#announcement-form [name=body]", "Thursday in BMB-4, same time.")
    page.uncheck("#announcement-form [name=email]")
    journey.step("4-announcement-form")
    with page.expect_navigation(url=f"**/courses/{CODE}/announcements/"):
        page.click("#announcement-form button[type=submit]")
    announcement = Announcement.objects.get(course__code=CODE, title="Week 9 moves to Thursday")
    expect(page.locator(f"#announcement-{announcement.pk}")).to_contain_text("Thursday in BMB-4, same time.")
    page.goto(f"{live_server.url}/")
    expect(page.locator(f"#announcements-{CODE}")).to_contain_text("Week 9 moves to Thursday")
    journey.step("5-dashboard")

    # A proposal (PDF) not graded yet: the file beside the rubric
    part = ProjectPart.objects.get(course__code=CODE, slug="proposal")
    waiting = (Submission.objects.filter(part=part, rubric_grade__isnull=True).select_related("team")
               .order_by("pk").first())
    assert waiting is not None and waiting.original_name.endswith(".pdf")
    page.goto(f"{live_server.url}/courses/{CODE}/projects/parts/{part.slug}/")
    page.locator(f'#submissions a[href$="/submissions/{waiting.pk}/rubric/"]').click()
    expect(page.locator("h1")).to_contain_text(waiting.team.name)
    expect(page.locator("#graded-file iframe.file-frame")).to_be_visible()
    page.get_by_label("Problem and paper chosen clearly points").fill("2")
    page.get_by_label("Feasible plan and compute budget points").fill("1.5")
    page.get_by_label("Writing points").fill("1")
    page.fill("#rubric-comment", "A clear plan; budget the GPU hours per experiment.")
    journey.step("6-rubric")
    save = page.get_by_role("button", name="Save and post to the gradebook")
    # scrolled there first: at 390 px, a click that scrolls past the PDF viewer's frame (a separate process)
    # sometimes lands nowhere and the form is not sent
    save.scroll_into_view_if_needed()
    save.click()
    # the page comes back with the message (its load event waits on Chromium's PDF viewer: not awaited)
    expect(page.locator(".messages")).to_contain_text(f"Rubric saved for {waiting.team.name}", timeout=20_000)
    grade = RubricGrade.objects.get(submission=waiting)
    assert grade.total == Decimal("4.5")
    page.goto(f"{live_server.url}/courses/{CODE}/projects/parts/{part.slug}/")
    expect(page.locator(f'#submissions a[href$="/submissions/{waiting.pk}/rubric/"]')).to_have_text("4.5")
    journey.step("7-graded")
    for student in waiting.members.all():
        assert Grade.objects.get(item=part.grade_item, student=student).points == Decimal("4.5")


# --- The TA --------------------------------------------------------------------------------------


@pytest.mark.parametrize("width", WIDTHS)
def test_ta_exports_the_gradebook_as_csv_and_excel_that_pandas_reads_as_numbers(
    demo, page, live_server, login, width, tmp_path
):
    journey = Journey(page, "ta", width)
    ta = members(Role.TA)[0]
    students = members(Role.STUDENT)
    login(page, live_server, ta)
    page.goto(f"{live_server.url}/courses/{CODE}/grades/")
    expect(page.locator("h1")).to_contain_text("Gradebook")
    journey.step("1-gradebook")

    frames = {}
    for name, reader in (("Export CSV", pd.read_csv), ("Export Excel", lambda p: pd.read_excel(p, engine="openpyxl"))):
        with page.expect_download() as info:
            page.get_by_role("link", name=name, exact=True).click()
        download = info.value
        target = tmp_path / download.suggested_filename
        download.save_as(target)
        frames[target.suffix] = reader(target)
    assert set(frames) == {".csv", ".xlsx"}

    quiz1 = Grade.objects.filter(item__course__code=CODE, item__name="Quiz 1").values_list(
        "student__username", "points")
    expected = {username: float(points) for username, points in quiz1}
    assert len(expected) == len(students)
    for suffix, frame in frames.items():
        assert len(frame) == len(students), suffix
        assert sorted(frame["Username"]) == sorted(s.username for s in students), suffix
        for column in ("Quiz 1 (10)", "Current total %", "Final total %"):
            assert pd.api.types.is_numeric_dtype(frame[column]), (suffix, column, frame[column].head())
        got = dict(zip(frame["Username"], frame["Quiz 1 (10)"], strict=True))
        assert got == pytest.approx(expected), suffix
        assert frame["Current total %"].between(0, 100).all(), suffix
    journey.step("2-exported")


def test_the_phone_width_check_catches_a_page_wider_than_the_viewport(page):
    """The overflow check can fail: a 600 px wide block on a 390 px page is reported, and no screenshot is kept."""
    journey = Journey(page, "width-check", 390)
    page.set_content('<html><body style="margin:0"><div style="width:600px;height:10px"></div></body></html>')
    with pytest.raises(AssertionError, match="600 px wide"):
        journey.step("planted")
    assert not (SCREENSHOTS / "width-check-390-planted.png").exists()
    page.set_content('<html><body style="margin:0"><p>fits</p></body></html>')
    shot = journey.step("fits")
    assert shot.name == "width-check-390-fits.png"
    shot.unlink()
