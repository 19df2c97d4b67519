"""Fixtures for courseapp's page sweeps."""

from __future__ import annotations

import pytest
from django.core.management import call_command


@pytest.fixture
def demo(db, settings, tmp_path):
    """The whole demo course as `load_demo` builds it (quizzes, projects, grades), files in tmp_path."""
    settings.SUBMISSIONS_ROOT = tmp_path / "submissions"
    settings.HARNESS_ROOT = tmp_path / "harnesses"
    call_command("load_demo", stdout=open("/dev/null", "w"))
