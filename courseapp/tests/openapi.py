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
    if media != JSON:
        return response.content
    body = response.json()
    shape = documented["content"][JSON]["schema"]
    validator = Draft7Validator(strict({**shape, "components": schema["components"]}))
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return body
