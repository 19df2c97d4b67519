"""The LTI API: the same services as the pages, for scripts; responses checked against the served schema."""

import pytest
from rest_framework.test import APIClient

from courseapp.tests.openapi import check, served_schema, token_client
from grading import demo as grading_demo
from lti.models import RosterSync, ScorePost

A = "/api/courses/{code}/lti/contexts/"


@pytest.fixture
def schema(db) -> dict:
    return served_schema()


def test_contexts_roster_preview_apply_and_send(schema, context, roster_on_platform, course, instructor,
                                                django_capture_on_commit_callbacks):
    client = token_client(instructor)
    base = f"/api/courses/{course.code}/lti/contexts/"
    contexts = check(schema, A, "get", client.get(base))
    assert [c["id"] for c in contexts] == [context.pk] and contexts[0]["roster_service"]
    preview = check(schema, A + "{context_id}/roster/", "get", client.get(f"{base}{context.pk}/roster/"))
    assert preview["ok"] and preview["counts"]["create"] == 1 and preview["counts"]["dropped"] == 1
    stale = client.post(f"{base}{context.pk}/roster/", {"digest": "0" * 32}, content_type="application/json")
    assert stale.status_code == 400
    assert "changed since your preview" in check(schema, A + "{context_id}/roster/", "post", stale)["errors"][0]["message"]
    applied = client.post(f"{base}{context.pk}/roster/", {"digest": preview["digest"]},
                          content_type="application/json")
    body = check(schema, A + "{context_id}/roster/", "post", applied)
    assert applied.status_code == 200 and body["status"] == "applied" and body["counts"]["dropped"] == 1
    grading_demo.load(course=course)
    with django_capture_on_commit_callbacks(execute=True):
        sent = client.post(f"{base}{context.pk}/grades/send/")
    result = check(schema, A + "{context_id}/grades/send/", "post", sent)
    assert result["queued"] == 40 and ScorePost.objects.filter(status="sent").count() == 40  # the total column


def test_platform_down_is_a_502_with_the_reason(schema, context, course, instructor):
    context.nrps_claim = {"context_memberships_url": context.nrps_claim["context_memberships_url"] + "-gone"}
    context.save()
    response = token_client(instructor).get(f"/api/courses/{course.code}/lti/contexts/{context.pk}/roster/")
    assert response.status_code == 502
    assert "could not be read" in check(schema, A + "{context_id}/roster/", "get", response)["detail"]


def test_refused_roles(context, course, ta, student, outsider):
    base = f"/api/courses/{course.code}/lti/contexts/"
    assert APIClient().get(base).status_code == 401
    for user, status in ((ta, 403), (student, 403), (outsider, 404)):
        client = token_client(user)
        assert client.get(base).status_code == status
        assert client.post(f"{base}{context.pk}/roster/", {}, content_type="application/json").status_code == status
        assert client.post(f"{base}{context.pk}/grades/send/").status_code == status
    assert not RosterSync.objects.exists()
