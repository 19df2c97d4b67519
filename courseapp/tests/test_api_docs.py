"""/api/docs/ (Swagger UI) and /api/redoc/ load nothing from another host, so they work offline."""

import re

import pytest
from django.contrib.staticfiles import finders

URL_ATTR = re.compile(r'(?:src|href)\s*=\s*["\']([^"\']+)["\']', re.I)
ANY_URL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.I)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_docs_page_references_no_external_host(client, db, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert ANY_URL.findall(html) == []
    assets = [url for url in URL_ATTR.findall(html) if url.startswith("/static/")]
    assert assets, "the page should load Swagger UI / ReDoc from our static files"
    for url in assets:
        assert finders.find(url.removeprefix("/static/")), f"{url} is not a static file of this site"


def test_swagger_ui_is_the_vendored_bundle(client, db):
    html = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
