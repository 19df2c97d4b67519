"""A student takes a quiz in Chromium, loses the network, reloads, and nothing is lost."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from grading.models import Grade
from quizzes.models import Attempt, Response

from . import factories as f

CODE = "ceng501-2024f"


def wait_saved(page):
    page.wait_for_selector('#save-state[data-state="saved"]', timeout=10_000)


@pytest.mark.browser
def test_answers_survive_an_offline_spell_and_a_reload_and_the_score_reaches_the_gradebook(
    page, live_server, login, student, course
):
    questions = [f.question(course, t) for t in ("single", "short", "truefalse", "numeric")]
    quiz = f.quiz(course, questions=questions, title="Browser quiz", review_after_submit=["score"])
    login(page, live_server, student)
    page.goto(f"{live_server.url}/courses/{CODE}/quizzes/{quiz.id}/")
    page.click("#start-attempt")
    page.wait_for_selector("#quiz-config", state="attached")
    attempt = Attempt.objects.get(quiz=quiz, student=student)
    slots = {q.question.qtype: q.id for q in quiz.slots.select_related("question")}

    # Online: two answers, saved on the server.
    page.get_by_label("ReLU").check()
    page.fill(f"#in-{slots['short']}", "backprop")
    wait_saved(page)
    assert Response.objects.filter(attempt=attempt).count() == 2

    # The network drops: two more answers wait on this device.
    page.context.set_offline(True)
    page.check(f'input[name="slot-{slots["truefalse"]}"][value="true"]')
    page.fill(f"#in-{slots['numeric']}", "3.14")
    page.wait_for_selector('#save-state[data-state="offline"]')
    assert "kept on this device" in page.inner_text("#save-state")
    waiting = page.evaluate(f"Object.keys(JSON.parse(localStorage.getItem('quiz-attempt-{attempt.id}')).pending)")
    assert sorted(map(int, waiting)) == sorted([slots["truefalse"], slots["numeric"]])
    assert Response.objects.filter(attempt=attempt).count() == 2

    # Back online, and the student reloads at once: the queue in localStorage is sent.
    page.context.set_offline(False)
    page.reload()
    wait_saved(page)
    assert page.is_checked(f'input[name="slot-{slots["truefalse"]}"][value="true"]'), (page.content()[-3000:], list(Response.objects.filter(attempt=attempt).values()))
    assert page.get_by_label("ReLU").is_checked()
    assert page.input_value(f"#in-{slots['short']}") == "backprop"
    diagnostics = (page.evaluate(f"localStorage.getItem('quiz-attempt-{attempt.id}')"),
                   page.text_content("#quiz-config"), list(Response.objects.filter(attempt=attempt).values()))
    assert page.input_value(f"#in-{slots['numeric']}") == "3.14", diagnostics
    stored = {r.slot_id: r.value for r in Response.objects.filter(attempt=attempt)}
    assert stored[slots["truefalse"]] is True and stored[slots["numeric"]] == "3.14"

    page.click("#submit-attempt")
    page.wait_for_selector("#attempt-score")
    assert page.inner_text("#attempt-score") == "4.00"
    assert Grade.objects.get(item=quiz.grade_item, student=student).points == D("4.00")
