"""The project API's OpenAPI schema: clean to generate, and true to what the endpoints send.

Real responses (HTTP, each role) are validated against the schema served at
/api/schema/, with undocumented keys refused, so the documented payloads cannot
drift from run_data/submission_data.
"""

from __future__ import annotations

import pytest

from courseapp.tests.openapi import check, schema_messages, served_schema, token_client
from projects import services

from .conftest import upload

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return served_schema()


CODE = "ceng501-2024f"
BASE = "/api/courses/{code}/projects"
PATHS = {
    "list": f"{BASE}/{{part}}/submissions/",
    "detail": f"{BASE}/{{part}}/submissions/{{id}}/",
    "rerun": f"{BASE}/{{part}}/submissions/{{id}}/rerun/",
    "part_rerun": f"{BASE}/{{part}}/rerun/",
    "part_runs": f"{BASE}/{{part}}/runs/",
    "run": f"{BASE}/runs/{{id}}/",
}


def test_generating_the_schema_warns_about_nothing_in_projects():
    noise = [m for m in schema_messages() if "projects" in m]
    assert noise == []


def test_every_operation_has_its_own_id_and_a_documented_payload(schema):
    ids = {}
    for path in PATHS.values():
        for method, operation in schema["paths"][path].items():
            if method == "parameters":
                continue
            ids[(path, method)] = operation["operationId"]
            ok = [c for c in operation["responses"] if c.startswith("2")]
            assert ok, (path, method)
            for code in ok:
                assert "$ref" in operation["responses"][code]["content"]["application/json"]["schema"], (path, code)
            assert {"403", "404"} <= set(operation["responses"]), (path, method)
    assert len(set(ids.values())) == len(ids) == 7
    assert ids[(PATHS["list"], "get")] == "projects_submissions_list"
    assert ids[(PATHS["run"], "get")] == "projects_run_retrieve"
    upload_body = schema["paths"][PATHS["list"]]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body


def test_student_payloads_match_the_schema(schema, echo_part, student, django_capture_on_commit_callbacks):
    client = token_client(student)
    with django_capture_on_commit_callbacks(execute=True):
        created = check(schema, PATHS["list"], "post",
                        client.post(f"/api/courses/{CODE}/projects/echo/submissions/", {"file": upload("partial")}))
    assert created["run"]["status"] == "queued" and "worker_host" not in created["run"]
    detail = check(schema, PATHS["detail"], "get", client.get(created["status_url"]))
    assert detail["run"]["predict"]["status"] == "ok" and detail["tests"]
    listed = check(schema, PATHS["list"], "get", client.get(f"/api/courses/{CODE}/projects/echo/submissions/"))
    assert listed["count"] == 1
    run_id = detail["run"]["id"]
    refused = check(schema, PATHS["run"], "get", client.get(f"/api/courses/{CODE}/projects/runs/{run_id}/"))
    assert refused["detail"]


def test_refusals_match_the_schema(schema, echo_part, student, outsider):
    echo_part.project.daily_submission_limit = 1
    echo_part.project.save()
    url = f"/api/courses/{CODE}/projects/echo/submissions/"
    check(schema, PATHS["list"], "post", token_client(student).post(url, {"file": upload()}))
    body = check(schema, PATHS["list"], "post", token_client(student).post(url, {"file": upload()}))
    assert "used all 1 submissions" in body["detail"]
    assert "multipart field" in check(schema, PATHS["list"], "post", token_client(student).post(url, {}))["errors"][0]["message"]
    assert check(schema, PATHS["list"], "get", token_client(outsider).get(url))["detail"]


def test_staff_payloads_match_the_schema(schema, echo_part, student, ta, instructor,
                                         django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(part=echo_part, user=student, uploads=[upload("crash")])
    run = sub.runs.get()
    staff = token_client(ta)
    detail = check(schema, PATHS["detail"], "get",
                   staff.get(f"/api/courses/{CODE}/projects/echo/submissions/{sub.pk}/"))
    assert detail["run"]["status"] == "failed" and detail["run"]["worker_host"]
    runs = check(schema, PATHS["part_runs"], "get", staff.get(f"/api/courses/{CODE}/projects/echo/runs/"))
    assert runs["results"][0]["team"] == "Attention Seekers"
    one = check(schema, PATHS["run"], "get", staff.get(f"/api/courses/{CODE}/projects/runs/{run.pk}/"))
    assert "shape mismatch" in one["stderr"]
    boss = token_client(instructor)
    with django_capture_on_commit_callbacks(execute=False):
        rerun = check(schema, PATHS["rerun"], "post",
                      boss.post(f"/api/courses/{CODE}/projects/echo/submissions/{sub.pk}/rerun/"))
        assert rerun["queue"] == "rerun" and rerun["status"] == "queued"
        everything = check(schema, PATHS["part_rerun"], "post", boss.post(f"/api/courses/{CODE}/projects/echo/rerun/"))
    assert everything == {"queued": 1, "queue": "rerun"}
    assert check(schema, PATHS["rerun"], "post",
                 staff.post(f"/api/courses/{CODE}/projects/echo/submissions/{sub.pk}/rerun/"))["detail"]


def test_points_are_documented_and_sent_as_decimal_strings_like_the_other_apps(
    schema, echo_part, student, ta, django_capture_on_commit_callbacks
):
    components = schema["components"]["schemas"]
    for component, fields in (("Submission", ("points", "points_possible", "late_penalty")),
                              ("Run", ("score", "max_score")), ("RubricTotal", ("total",))):
        for field in fields:
            assert components[component]["properties"][field]["type"] == "string", (component, field)
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(part=echo_part, user=student, uploads=[upload("partial")])
    body = check(schema, PATHS["detail"], "get",
                 token_client(ta).get(f"/api/courses/{CODE}/projects/echo/submissions/{sub.pk}/"))
    assert (body["points"], body["points_possible"], body["late_penalty"]) == ("4.00", "8.00", "0.00")
    assert (body["run"]["score"], body["run"]["max_score"]) == ("2.0000", "4.0000")  # the harness's own points
