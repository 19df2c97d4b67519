"""Fixtures shared by every app's tests: the demo course and one person per role."""

from __future__ import annotations

import os

import pytest
from django.test import Client

from courseapp import demo
from courseapp.models import Course, Membership, Role, User

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


def skip_or_fail(reason: str) -> None:
    """Skip a test whose service is missing on a laptop; fail it in CI (REQUIRE_SERVICES=1)."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (REQUIRE_SERVICES=1 turns this skip into a failure)")
    pytest.skip(reason)


@pytest.fixture
def course(db) -> Course:
    """CENG 501 Fall 2024-2025 as `load_demo --syllabus-dates` builds it (course part only, not other apps'
    demo data)."""
    return demo.load_course().course


def _member(course: Course, role: str) -> User:
    return Membership.objects.filter(course=course, role=role).select_related("user").order_by("user__username")[0].user


@pytest.fixture
def instructor(course) -> User:
    return _member(course, Role.INSTRUCTOR)


@pytest.fixture
def ta(course) -> User:
    return _member(course, Role.TA)


@pytest.fixture
def student(course) -> User:
    return _member(course, Role.STUDENT)


@pytest.fixture
def other_student(course) -> User:
    return Membership.objects.filter(course=course, role=Role.STUDENT).order_by("user__username")[1].user


@pytest.fixture
def outsider(db) -> User:
    """Logged in, but a member of no course."""
    return User.objects.create_user(username="outsider", password="x")


@pytest.fixture
def client_for(db):
    """client_for(user) -> a test Client logged in as that user."""

    def make(user: User) -> Client:
        client = Client()
        client.force_login(user)
        return client

    return make


# --- Browser tests (Playwright driving Debian's /usr/bin/chromium) -------------------------
# Mark them @pytest.mark.browser and request `page`, `live_server` and `login`:
#
#     @pytest.mark.browser
#     def test_student_sees_schedule(page, live_server, login, student):
#         login(page, live_server, student)              # demo users: courseapp.demo.DEMO_PASSWORD
#         page.goto(f"{live_server.url}/courses/ceng501-2024f/schedule/")
#
# Users made in a test with User.objects.create_user(username=..., password="pw-123") log in
# with login(page, live_server, user, password="pw-123").  The live server runs in a thread
# of this process, so freezegun's freeze_time (started before the request) applies to it too.
# Missing chromium/playwright skips these tests, or fails them when BROWSER_REQUIRED=1.
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]
BROWSER_REQUIRED = os.environ.get("BROWSER_REQUIRED") == "1"


def _browser_missing(reason: str) -> None:
    if BROWSER_REQUIRED:
        pytest.fail(f"{reason} (BROWSER_REQUIRED=1 turns this skip into a failure)")
    skip_or_fail(reason)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    # Playwright's sync API runs an event loop in this thread; Django's ORM calls made by the
    # test itself would otherwise be refused as "async unsafe".
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    if not os.path.exists(CHROMIUM_PATH):
        _browser_missing(f"chromium not found at {CHROMIUM_PATH}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _browser_missing("playwright is not installed")
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS)
    except Exception as exc:  # a broken chromium install: skip or fail like a missing one
        manager.stop()
        _browser_missing(f"chromium did not start: {exc}")
    yield browser
    browser.close()
    manager.stop()


@pytest.fixture
def page(browser):
    """A fresh page in its own browser context (no cookies shared between tests)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US",
                                  timezone_id="Europe/Istanbul")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def login():
    """login(page, live_server, user, password=DEMO_PASSWORD): log in through the real login form."""

    def do_login(page, live_server, user: User, password: str = demo.DEMO_PASSWORD) -> None:
        page.goto(f"{live_server.url}/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", password)
        page.click("button[type=submit]")
        page.wait_for_load_state("domcontentloaded")
        if "/login/" in page.url:
            raise AssertionError(f"login as {user.username} failed (wrong password for a test-made user?)")

    return do_login
