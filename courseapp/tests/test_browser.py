"""Whole journeys in headless Chromium against the live server (same process, so freezegun applies)."""

import datetime as dt
import re

import pytest
from freezegun import freeze_time

from courseapp.models import Membership, User

# Playwright's event loop must keep real time, or its timeouts stop working; the server's clock is frozen.
REAL_TIME_FOR = ["playwright", "asyncio", "greenlet"]


@pytest.mark.browser
def test_student_sees_this_weeks_lecture_highlighted(page, live_server, login, student, course):
    login(page, live_server, student)
    # Thursday 14 Nov 2024, 10:00 in Istanbul: the week of the 13 Nov lecture (week 7).
    with freeze_time(dt.datetime(2024, 11, 14, 7, 0, tzinfo=dt.UTC), tick=True, ignore=REAL_TIME_FOR):
        page.goto(f"{live_server.url}/courses/{course.code}/schedule/")
        current = page.locator("tr.current")
        assert current.count() == 1
        assert current.get_attribute("id") == "week-7"
        assert "Large-Language Models" in current.inner_text()
        assert "this week" in current.inner_text()
        background = current.evaluate("row => getComputedStyle(row).backgroundColor")
        assert background not in ("rgba(0, 0, 0, 0)", "transparent")  # the highlight is visible
        assert "week 7, Large-Language Models" in page.locator(".now").inner_text()
    with freeze_time(dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.UTC), tick=True, ignore=REAL_TIME_FOR):
        page.reload()
        assert page.locator("tr.current").count() == 0  # after the term nothing is highlighted


@pytest.mark.browser
def test_schedule_fits_a_phone(page, live_server, login, student, course):
    page.set_viewport_size({"width": 375, "height": 740})
    login(page, live_server, student)
    page.goto(f"{live_server.url}/courses/{course.code}/schedule/")
    overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0  # the table scrolls inside .table-wrap, the page itself does not


@pytest.mark.browser
def test_instructor_imports_a_roster_fixing_a_bad_row(page, live_server, login, instructor, course, tmp_path):
    roster = tmp_path / "roster.csv"
    roster.write_bytes((
        "\ufeffStudent number;First name;Last name;E-mail\n"
        "2499101;Şule;Çağlar;sule.caglar@metu.edu.tr\n"
        "2499102;İlker;Öğüt;ilker.ogut@metu\n"
    ).encode("utf-8"))
    login(page, live_server, instructor)
    page.goto(f"{live_server.url}/")
    page.click(f"a[href='/courses/{course.code}/roster/import/']")
    page.set_input_files("#id_file", str(roster))
    page.click("#roster-upload button[type=submit]")

    errors = page.locator("#roster-errors")
    assert "Line 3:" in errors.inner_text()
    assert 'email "ilker.ogut@metu" is not a valid address' in errors.inner_text()
    assert page.locator("#roster-apply").count() == 0
    assert not User.objects.filter(username="e2499101").exists()

    text = page.input_value("#id_text")
    page.fill("#id_text", text.replace("ilker.ogut@metu\n", "ilker.ogut@metu.edu.tr\n"))
    page.click("#roster-upload button[type=submit]")
    assert page.locator("#roster-errors").count() == 0
    assert "2 new accounts" in page.locator("#roster-summary").inner_text()
    page.click("#roster-apply button[type=submit]")

    page.wait_for_url(re.compile(r".*/roster/$"))
    assert "Roster imported: 2 new accounts" in page.locator(".messages").inner_text()
    assert "Öğüt, İlker" in page.locator("#roster").inner_text()
    assert set(Membership.objects.filter(course=course, user__student_number__in=["2499101", "2499102"])
               .values_list("role", flat=True)) == {"student"}
