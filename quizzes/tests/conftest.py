"""Quiz test helpers."""

import pytest
from django.urls import get_resolver


@pytest.fixture(autouse=True)
def _urls_loaded_before_freezegun():
    """Import every app's URLs (and so pandas, via the gradebook) before a test freezes time:
    pandas imported under freezegun crawls."""
    get_resolver().url_patterns  # noqa: B018

