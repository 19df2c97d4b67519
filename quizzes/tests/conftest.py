"""Quiz test helpers."""

import pytest
from django.urls import get_resolver


@pytest.fixture(autouse=True)
def _urls_loaded_before_freezegun():
    """Import every app's URLs (and so pandas, via the gradebook) before a test freezes time:
    pandas imported under freezegun crawls."""
    get_resolver().url_patterns  # noqa: B018


@pytest.fixture(autouse=True)
def _fresh_attempt_facts():
    """Forget the per-process cache of attempt facts: a rolled-back test's attempt id is reused by the next test
    on SQLite, and a fast-path save on stale facts declines (correctly, but then it is not the fast path tested)."""
    from quizzes import services

    services._FACTS.clear()
    from quizzes import selectors

    # The layout cache is keyed by (quiz id, created_at, layout_version): under freezegun a rolled-back test's
    # quiz id and creation time come back identical in the next test.
    selectors._LAYOUTS.clear()
