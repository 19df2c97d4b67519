"""Browser journey: the instructor enters a final-exam grade in the grid; the student sees the new total, and the
letter once the instructor releases letters."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest

# Locator assertions run in Playwright's own script world, which the pages' CSP does not bind
# (a string predicate in wait_for_function would be eval, which the CSP refuses).
from playwright.sync_api import expect

from grading.calculations import letter_for
from grading.models import Grade

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_instructor_enters_final_exam_grade_and_student_sees_total_and_letter(
    book, instructor, student, item, page, browser, login, live_server
):
    final = item("Final exam")
    login(page, live_server, instructor)
    page.goto(f"{live_server.url}/courses/{book.code}/grades/")
    cell = page.locator(f'tr[data-student="{student.pk}"] input[data-item="{final.pk}"]')
    cell.click()
    cell.fill("95")
    cell.press("Tab")
    expect(page.locator("#gb-status")).to_have_text("Saved.")
    # Tab moved the focus to the next cell in the row, like a spreadsheet
    assert page.evaluate("document.activeElement.dataset.item") != str(final.pk)
    assert Grade.objects.get(item=final, student=student).points == Decimal("95")

    # Hand computation: quizzes 1–3 are graded (demo), 4–10 and the project part are past due and missing.
    quiz_sum = sum(g.points for g in Grade.objects.filter(student=student, item__category__name="Quizzes"))
    current = _half_up((Decimal(20) * quiz_sum / 30 * 100 + Decimal(35) * 95) / 55)
    final_total = _half_up(Decimal(20) * quiz_sum / 100 + Decimal("0.35") * 95)
    row = page.locator(f'tr[data-student="{student.pk}"]')
    assert row.locator('[data-total="current"]').inner_text() == str(current)
    assert row.locator('[data-total="final"]').inner_text() == str(final_total)

    student_page = browser.new_context().new_page()
    login(student_page, live_server, student)
    student_page.goto(f"{live_server.url}/courses/{book.code}/grades/mine/")
    assert student_page.locator("#mg-current").inner_text() == f"{current}%"
    assert student_page.locator("#mg-final").inner_text() == f"{final_total}%"
    assert student_page.locator(f'[data-points="{final.pk}"]').inner_text() == "95"
    # no letter until the instructor releases letters (on the letters page)
    assert student_page.locator("#mg-letter").inner_text() == "–"
    assert "not released yet" in student_page.locator("#mg-letter-note").inner_text()
    page.goto(f"{live_server.url}/courses/{book.code}/grades/letters/")
    page.click("#letters-release button[type=submit]")
    page.wait_for_selector("text=Letters released to students.")
    student_page.reload()
    assert student_page.locator("#mg-letter").inner_text() == letter_for(final_total)

    # and the what-if calculator answers through the API
    student_page.fill(f'input[data-item="{final.pk}"]', "100")
    student_page.click("#whatif-result button[type=submit]")
    expect(student_page.locator("#whatif-out")).to_contain_text("letter")
    expected = _half_up(Decimal(20) * quiz_sum / 100 + 35)
    assert f"final {expected}%" in student_page.locator("#whatif-out").inner_text()
    student_page.context.close()
