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
    """CENG 501 Fall 2024-2025 as load_demo builds it (course part only, not other apps' demo data)."""
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
