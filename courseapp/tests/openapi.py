"""Checking API responses against the OpenAPI schema that /api/schema/ serves.

Shared by every app's test_api_schema.py: real responses (HTTP, each role,
refusals included) are validated against the served schema with undocumented
keys refused, so documented payloads cannot drift from what the views send.
"""

from __future__ import annotations

from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator
from jsonschema import Draft7Validator

from courseapp.tokens import token_create

JSON = "application/json"
PROBLEM = "application/problem+json"


def served_schema() -> dict:
    return Client().get("/api/schema/", {"format": "json"}).json()


def token_client(user) -> Client:
    """A client that authenticates as `user` with an API token, as scripts do."""
    return Client(HTTP_AUTHORIZATION=f"Token {token_create(user=user)[1]}")


def generated_schema() -> tuple[dict, list[str]]:
    """The whole schema, and the warnings and errors drf-spectacular reported making it.

    Reads drf-spectacular's generator statistics (internal; pinned version)."""
    GENERATOR_STATS.reset()
    generated = SchemaGenerator().get_schema(request=None, public=True)
    return generated, [*GENERATOR_STATS._warn_cache, *GENERATOR_STATS._error_cache]


def schema_messages() -> list[str]:
    return generated_schema()[1]


def assert_problem(response, status: int | None = None) -> dict:
    """An API error answer is RFC 9457 problem details (courseapp/api_errors.py); returns its body."""
    status = status or response.status_code
    assert response.status_code == status, (response.status_code, response.content[:300])
    assert response["Content-Type"].split(";")[0] == PROBLEM, response["Content-Type"]
    body = response.json()
    assert body["type"] == "about:blank" and body["status"] == status, body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str) and body["detail"].strip(), body
    assert body.get("instance", "/").startswith("/"), body
    for error in body.get("errors", []):
        assert set(error) == {"field", "message"} and error["message"], error
        assert error["field"] is None or isinstance(error["field"], str), error
    return body


def messages(response) -> list[str]:
    """The messages of a problem's `errors` (what to fix), in order."""
    return [e["message"] for e in assert_problem(response).get("errors", [])]


def field_messages(response, field: str) -> list[str]:
    """The messages of a problem's `errors` about one field."""
    return [e["message"] for e in assert_problem(response).get("errors", []) if e["field"] == field]


def strict(node):
    """OpenAPI 3.0 -> JSON Schema: `nullable` becomes a null alternative; objects refuse undocumented keys."""
    if isinstance(node, list):
        return [strict(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: strict(v) for k, v in node.items()}
    if node.get("type") == "object" and "properties" in node:
        node.setdefault("additionalProperties", False)
    if node.pop("nullable", False):
        node = {"anyOf": [node, {"type": "null"}]}
    return node


def check(schema: dict, path: str, method: str, response):
    """Validate `response` against the schema of `path`/`method` for its status code.

    Returns the JSON body; the text of a text/plain response; the raw bytes of a
    file response (CSV, Excel); None for a documented empty one."""
    operation = schema["paths"][path][method]
    documented = operation["responses"].get(str(response.status_code))
    assert documented, f"{method.upper()} {path} answered {response.status_code}, which is not documented"
    if "content" not in documented:
        assert not response.content
        return None
    media = response["Content-Type"].split(";")[0].strip()
    assert media in documented["content"], f"{method.upper()} {path} sent {media}, documented {documented['content']}"
    if media == "text/plain":
        return response.content.decode()
    if media not in (JSON, PROBLEM):
        return response.content
    if response.status_code >= 400:
        assert media == PROBLEM, f"{method.upper()} {path} answered {response.status_code} as {media}"
        assert_problem(response)
    body = response.json()
    shape = documented["content"][media]["schema"]
    validator = Draft7Validator(strict({**shape, "components": schema["components"]}))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return body
