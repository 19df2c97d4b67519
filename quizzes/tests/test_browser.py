"""A student takes a quiz in Chromium, loses the network, reloads, and nothing is lost."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal as D

import pytest

# Locator assertions run in Playwright's own script world, which the pages' CSP does not bind
# (a string predicate in wait_for_function would be eval, which the CSP refuses).
from playwright.sync_api import expect

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

    page.once("dialog", lambda dialog: dialog.accept())  # "Submit this attempt?"
    page.click("#submit-attempt")
    page.wait_for_selector("#attempt-score")
    assert page.inner_text("#attempt-score") == "4"  # one score format: no trailing zeros
    assert Grade.objects.get(item=quiz.grade_item, student=student).points == D("4.00")


# --- Several devices, a skewed clock, a nasty answer, the deadline ---------------------------------


@pytest.fixture
def second_page(browser):
    """Another device of the same student: its own browser context (cookies, localStorage, clock)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US",
                                  timezone_id="Europe/Istanbul")
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def open_attempt(page, live_server, login, student, quiz):
    login(page, live_server, student)
    page.goto(f"{live_server.url}/courses/{CODE}/quizzes/{quiz.id}/")
    if page.locator("#start-attempt").count():
        page.click("#start-attempt")
    else:
        page.click("text=Continue your attempt")
    page.wait_for_selector("#quiz-config", state="attached")


def stored(attempt, slot):
    return Response.objects.get(attempt=attempt, slot_id=slot).value


@pytest.mark.browser
def test_an_offline_edit_over_another_devices_newer_answer_asks_which_to_keep(
    page, second_page, live_server, login, student, course
):
    quiz = f.quiz(course, questions=[f.question(course, "short")], title="Two devices")
    open_attempt(page, live_server, login, student, quiz)
    open_attempt(second_page, live_server, login, student, quiz)
    attempt = Attempt.objects.get(quiz=quiz, student=student)
    slot = quiz.slots.get().id

    page.context.set_offline(True)  # device A edits offline …
    page.fill(f"#in-{slot}", "from A, offline")
    page.wait_for_selector('#save-state[data-state="offline"]')
    second_page.fill(f"#in-{slot}", "from B, later, online")  # … device B edits later, online
    wait_saved(second_page)
    assert stored(attempt, slot) == "from B, later, online"

    page.context.set_offline(False)
    page.wait_for_selector('#save-state[data-state="conflict"]')  # never "All answers saved"
    text = page.inner_text(f'fieldset[data-slot="{slot}"] .conflict')
    assert "Changed on another device at" in text and "from B, later, online" in text and "from A, offline" in text
    assert stored(attempt, slot) == "from B, later, online"
    page.click(f'fieldset[data-slot="{slot}"] .keep-mine')
    wait_saved(page)
    assert stored(attempt, slot) == "from A, offline"

    # Device B learns of it within 5 s, without a reload.
    expect(second_page.locator(f"#in-{slot}")).to_have_value("from A, offline", timeout=5_000)
    assert "Changed on another device at" in second_page.inner_text(f'fieldset[data-slot="{slot}"] .remote-note')
    assert second_page.get_attribute("#save-state", "data-state") == "saved"


@pytest.mark.browser
def test_keep_this_one_takes_the_other_devices_answer(page, second_page, live_server, login, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "single")], title="Keep theirs")
    open_attempt(page, live_server, login, student, quiz)
    open_attempt(second_page, live_server, login, student, quiz)
    attempt = Attempt.objects.get(quiz=quiz, student=student)
    slot = quiz.slots.get().id
    page.context.set_offline(True)
    page.get_by_label("Step").check()
    second_page.get_by_label("ReLU").check()
    wait_saved(second_page)
    page.context.set_offline(False)
    page.wait_for_selector(f'fieldset[data-slot="{slot}"] .conflict')
    assert "it reads ReLU" in page.inner_text(f'fieldset[data-slot="{slot}"] .conflict')
    page.click(f'fieldset[data-slot="{slot}"] .keep-theirs')
    wait_saved(page)
    assert page.get_by_label("ReLU").is_checked() and not page.get_by_label("Step").is_checked()
    relu = quiz.slots.get().question.answers.get(text="ReLU").id
    assert stored(attempt, slot) == relu


@pytest.mark.browser
def test_a_device_whose_clock_is_ten_minutes_slow_still_saves_its_later_edit(
    page, second_page, live_server, login, student, course
):
    quiz = f.quiz(course, questions=[f.question(course, "short")], title="Slow clock",
                  time_limit=dt.timedelta(minutes=30))
    second_page.context.add_init_script("""(() => {
        const skew = -10 * 60 * 1000, RealDate = Date;
        class SlowDate extends RealDate {
            constructor(...args) { if (args.length) { super(...args); } else { super(RealDate.now() + skew); } }
            static now() { return RealDate.now() + skew; }
        }
        Date = SlowDate;
    })();""")
    open_attempt(page, live_server, login, student, quiz)
    open_attempt(second_page, live_server, login, student, quiz)
    assert second_page.evaluate("Date.now()") < page.evaluate("Date.now()") - 9 * 60 * 1000
    attempt = Attempt.objects.get(quiz=quiz, student=student)
    slot = quiz.slots.get().id
    page.fill(f"#in-{slot}", "first, on the right clock")
    wait_saved(page)
    expect(second_page.locator(f"#in-{slot}")).to_have_value(re.compile(r"^first"), timeout=5_000)
    second_page.fill(f"#in-{slot}", "second, on the slow clock")
    wait_saved(second_page)
    assert stored(attempt, slot) == "second, on the slow clock"
    # Its countdown follows the server's clock, not its own.
    assert second_page.inner_text("#timer").startswith(("Time left 29:", "Time left 30:"))


@pytest.mark.browser
def test_an_answer_reading_script_end_survives_a_reload(page, live_server, login, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "essay"), f.question(course, "short")], title="Script end")
    open_attempt(page, live_server, login, student, quiz)
    attempt = Attempt.objects.get(quiz=quiz, student=student)
    essay, short = (quiz.slots.get(question__qtype=t).id for t in ("essay", "short"))
    nasty = "</script><script>document.title='owned'</script>"
    page.fill(f"#in-{essay}", nasty)
    wait_saved(page)
    page.reload()
    page.wait_for_selector("#quiz-config", state="attached")
    # The page's script fills the saved answers in once it has read the config: wait for it.
    expect(page.locator(f"#in-{essay}")).to_have_value(nasty, timeout=15_000)
    assert page.inner_text("#timer").startswith("Time left")
    assert page.title() != "owned"
    page.fill(f"#in-{short}", "backprop")
    wait_saved(page)
    assert stored(attempt, short) == "backprop" and stored(attempt, essay) == nasty


@pytest.mark.browser
def test_a_page_open_at_the_deadline_submits_what_it_shows_as_auto_submitted(
    page, live_server, login, student, course
):
    quiz = f.quiz(course, questions=[f.question(course, "short")], title="Deadline",
                  length=dt.timedelta(hours=1, seconds=20))  # closes 20 s from now
    open_attempt(page, live_server, login, student, quiz)
    slot = quiz.slots.get().id
    page.fill(f"#in-{slot}", "backprop")
    # The answer is typed before the deadline (on a loaded machine opening the page can take seconds).
    assert page.inner_text("#timer").startswith("Time left"), page.inner_text("#timer")
    page.wait_for_selector("text=submitted automatically at the deadline", timeout=40_000)
    attempt = Attempt.objects.get(quiz=quiz, student=student)
    assert attempt.state != "in_progress" and attempt.auto_submitted is True
    assert stored(attempt, slot) == "backprop"


@pytest.mark.browser
def test_an_answer_cannot_be_typed_before_the_page_script_can_save_it(page, live_server, login, student, course):
    """On a slow connection the fields arrive before take.js: they stay disabled until it has filled in the
    saved answers and listens, so nothing typed is silently overwritten by the saved value or never sent."""
    quiz = f.quiz(course, questions=[f.question(course, "short")], title="Slow script")
    held = []
    page.route("**/static/quizzes/take*.js", lambda route: held.append(route))
    login(page, live_server, student)
    page.goto(f"{live_server.url}/courses/{CODE}/quizzes/{quiz.id}/")
    page.click("#start-attempt")
    page.wait_for_selector("#quiz-config", state="attached")
    slot = quiz.slots.get().id
    page.wait_for_timeout(300)
    assert held, "the page did not ask for take.js"
    expect(page.locator(f"#in-{slot}")).to_be_disabled()
    expect(page.locator("#submit-attempt")).to_be_disabled()
    held[0].continue_()
    page.fill(f"#in-{slot}", "typed early")  # waits until the script enables the field
    wait_saved(page)
    assert stored(Attempt.objects.get(quiz=quiz, student=student), slot) == "typed early"


@pytest.mark.browser
def test_a_matching_question_saves_its_picks_and_shows_them_after_a_reload(page, live_server, login, student, course):
    pairs = [{"text": "Conv", "match": "local features"}, {"text": "Pool", "match": "downsampling"}]
    quiz = f.quiz(course, questions=[f.question(course, "matching", answers=pairs)], title="Matching")
    open_attempt(page, live_server, login, student, quiz)
    attempt = Attempt.objects.get(quiz=quiz, student=student)
    slot = quiz.slots.get()
    conv = slot.question.answers.get(text="Conv").id
    page.select_option(f"#in-{slot.id}-{conv}", "local features")
    wait_saved(page)
    assert stored(attempt, slot.id) == {str(conv): "local features"}
    page.reload()
    page.wait_for_selector("#quiz-config", state="attached")
    wait_saved(page)
    assert page.input_value(f"#in-{slot.id}-{conv}") == "local features"


@pytest.mark.browser
def test_dismissing_the_submit_confirmation_submits_nothing(page, live_server, login, student, course):
    quiz = f.quiz(course, questions=[f.question(course, "short")], title="Confirm quiz")
    login(page, live_server, student)
    page.goto(f"{live_server.url}/courses/{CODE}/quizzes/{quiz.id}/")
    page.click("#start-attempt")
    page.wait_for_selector("#quiz-config", state="attached")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click("#submit-attempt")
    page.wait_for_timeout(500)
    assert asked and "Submit this attempt?" in asked[0]
    assert Attempt.objects.get(quiz=quiz, student=student).state == "in_progress"
    expect(page.locator("#submit-attempt")).to_be_visible()
