"""The 403, 404 and 500 pages (DEBUG=False) say what to do: log in, ask the instructor, go back to the course."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory

from courseapp import error_pages


@pytest.fixture(autouse=True)
def production_errors(settings):
    settings.DEBUG = False


def test_404_for_a_member_links_back_to_the_course_and_the_dashboard(client_for, student, course):
    response = client_for(student).get(f"/courses/{course.code}/quizzes/999999/")
    html = response.content.decode()
    assert response.status_code == 404 and 'id="error-404"' in html
    assert f'href="/courses/{course.code}/"' in html and "Go back to CENG 501 Deep Learning" in html
    assert 'href="/"' in html and "log in" not in html.lower().split("</header>")[1]
    assert 'rel="stylesheet"' in html  # styled like the rest of the site


def test_404_for_a_visitor_says_to_log_in(db):
    response = Client().get("/no/such/page/")
    html = response.content.decode()
    assert response.status_code == 404 and "There is no such page" in html
    assert 'href="/login/"' in html and "/no/such/page/" in html


def test_404_under_api_stays_json(db):
    response = Client().get("/api/courses/x/grade-items/abc/")
    assert response.status_code == 404 and "routes are listed at /api/docs/" in response.json()["detail"]


def test_403_for_a_student_says_to_ask_the_instructor(client_for, student, course):
    response = client_for(student).get(f"/courses/{course.code}/roster/")
    html = response.content.decode()
    assert response.status_code == 403 and 'id="error-403"' in html
    assert "ask the instructor" in html and "Your role in this course does not allow this." in html
    assert f'href="/courses/{course.code}/"' in html


def test_403_for_a_visitor_says_to_log_in_and_come_back(db):
    request = RequestFactory().get("/courses/nope/roster/")
    request.user = AnonymousUser()
    response = error_pages.permission_denied(request, PermissionDenied())
    html = response.content.decode()
    assert response.status_code == 403 and "Log in" in html
    assert "/login/?next=/courses/nope/roster/" in html and "Go back to" not in html  # no such course


def test_403_under_api_is_problem_details(db):
    """Django's handler403 (a PermissionDenied raised outside DRF) answers /api/ with the site's error shape."""
    request = RequestFactory().get("/api/courses/ceng501/grades/")
    request.user = AnonymousUser()
    response = error_pages.permission_denied(request, PermissionDenied("Only the instructor may do this."))
    body = json.loads(response.content)
    assert response.status_code == 403 and response["Content-Type"] == "application/problem+json"
    assert body["detail"] == "Only the instructor may do this." and body["code"] == "permission_denied"
    assert body["status"] == 403 and body["instance"] == "/api/courses/ceng501/grades/"


def test_500_page_says_it_is_our_fault_and_what_to_do(client_for, student, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr("courseapp.selectors.dashboard_cards", broken)
    client = client_for(student)
    client.raise_request_exception = False
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 500 and 'id="error-500"' in html
    assert "Something went wrong on our side" in html and "tell the instructor" in html
    assert "database on fire" not in html and 'rel="stylesheet"' in html


def test_500_under_api_stays_json(db):
    response = error_pages.server_error(RequestFactory().get("/api/courses/"))
    assert response.status_code == 500 and "Server error" in response.content.decode()
