"""The HTTP session the tool uses towards platforms: a timeout on every call, no retries here
(Celery retries score posts with backoff; a roster sync is retried by the next night or click)."""

from __future__ import annotations

import requests
from pylti1p3.service_connector import ServiceConnector

from .models import Platform
from .toolconf import ToolRegistration

TIMEOUT_S = 15


class TimeoutSession(requests.Session):
    def request(self, method, url, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", TIMEOUT_S)
        return super().request(method, url, **kwargs)


def session() -> requests.Session:
    s = TimeoutSession()
    s.headers["User-Agent"] = "ceng501-course-site (PyLTI1p3)"
    return s


def connector(platform: Platform) -> ServiceConnector:
    """A service connector that gets OAuth2 tokens with our current key (client_credentials + JWT)."""
    return ServiceConnector(ToolRegistration(platform), requests_session=session())
