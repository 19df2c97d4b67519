"""schemathesis against /api/schema/, in process (WSGI) on the test database, for each role.

Every operation of the served schema gets a few generated requests per role (anonymous,
student, TA, instructor) with the demo course's code in the path, so they reach the views
rather than "no such course". Positive cases (valid by the schema) must be answered without a
5xx, with a documented status code and content type, and with a body the schema describes;
negative cases (invalid by the schema) only without a 5xx. Bounded to fit CI: FUZZ_EXAMPLES
(default 3) examples per operation, role and mode.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.core import signals
from django.core.management import call_command
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from courseapp.models import Course, Membership, Role
from courseapp.tokens import token_create

pytestmark = pytest.mark.django_db

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "3"))
POSITIVE_CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
                   response_schema_conformance]
# Operations left out, and why (see the module docstring of each reason):
EXCLUDED: dict[tuple[str, str], str] = {}


@pytest.fixture
def same_connection():
    """Keep the test's database connection across WSGI requests, as Django's test Client does: the handler's
    request_finished signal would otherwise close it (and with it the test's transaction)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def schema(db, same_connection):
    from courseapp.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)


def _headers(role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    course = Course.objects.get(code="ceng501-2024f")
    wanted = {"student": Role.STUDENT, "ta": Role.TA, "instructor": Role.INSTRUCTOR}[role]
    user = Membership.objects.filter(course=course, role=wanted).order_by("user__username")[0].user
    return {"Authorization": f"Token {token_create(user=user, name='fuzz')[1]}"}


def _exercise(operation, mode: GenerationMode, headers: dict, code: str, failures: list[str]) -> None:
    checks = POSITIVE_CHECKS if mode == GenerationMode.POSITIVE else [not_a_server_error]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
              suppress_health_check=list(HealthCheck))
    def run(case) -> None:
        if case.path_parameters and "code" in case.path_parameters:
            case.path_parameters["code"] = code
        try:
            case.call_and_validate(headers=headers, checks=checks)
        except BaseException as exc:  # a FailureGroup is a BaseExceptionGroup
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
            reasons = [str(e).strip().replace("\n", " ")[:200] for e in getattr(exc, "exceptions", [exc])]
            failures.append(f"{mode.value} {operation.label}: {' | '.join(reasons)}")
            raise

    try:
        run()
    except BaseException as exc:  # already recorded; hypothesis re-raises the first failure
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise


@pytest.mark.parametrize("role", ["anonymous", "student", "ta", "instructor"])
def test_schema_fuzzing_finds_no_5xx_and_no_undocumented_answer(schema, same_connection, role):
    call_command("load_demo", verbosity=0)
    headers = _headers(role)
    failures: list[str] = []
    count = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in EXCLUDED:
            continue
        count += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _exercise(operation, mode, headers, "ceng501-2024f", failures)
    assert count > 50, f"only {count} operations in the schema"
    assert not failures, f"{len(failures)} failing operations as {role}:\n" + "\n".join(dict.fromkeys(failures))
