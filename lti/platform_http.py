"""The HTTP session the tool uses towards platforms: a timeout on every call, no retries here
(Celery retries score posts with backoff; a roster sync is retried by the next night or click)."""

from __future__ import annotations

import hashlib

import requests
from django.core.cache import cache
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


# Platform access tokens live an hour (Moodle, Canvas); reuse one for a few minutes so that
# posting a class's scores does not ask for a token per score. A 401 forgets it.
TOKEN_REUSE_S = 600


class CachingServiceConnector(ServiceConnector):
    def __init__(self, registration: ToolRegistration, **kwargs):
        super().__init__(registration, **kwargs)
        self._platform_pk = registration.platform.pk
        self._kid = registration.get_kid()

    def token_cache_key(self, scopes) -> str:
        digest = hashlib.sha256("|".join(sorted(scopes)).encode()).hexdigest()[:16]
        return f"lti-token:{self._platform_pk}:{self._kid}:{digest}"

    def get_access_token(self, scopes) -> str:
        key = self.token_cache_key(scopes)
        token = cache.get(key)
        if token is None:
            token = super().get_access_token(scopes)
            cache.set(key, token, TOKEN_REUSE_S)
        return token

    def forget_token(self, scopes) -> None:
        cache.delete(self.token_cache_key(scopes))


def connector(platform: Platform) -> CachingServiceConnector:
    """A service connector that gets OAuth2 tokens with our current key (client_credentials + JWT)."""
    return CachingServiceConnector(ToolRegistration(platform), requests_session=session())
