"""The browser fixtures work: a demo student logs in through the real form."""

import pytest


@pytest.mark.browser
def test_student_logs_in_through_the_form_and_sees_the_course(page, live_server, login, student):
    login(page, live_server, student)
    assert page.locator("h1").inner_text() == "Your courses"
    assert "CENG 501" in page.locator("main").inner_text()
