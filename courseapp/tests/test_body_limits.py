"""Request bodies refused by their declared size, before a byte of them is read.

The test client's request body is a few bytes while CONTENT_LENGTH declares gigabytes; the
client's FakePayload raises if anything tries to read past what was sent, so a 413 here is
proof that nothing read the body. (Live sockets: tests/test_edge.py.)
"""

import pytest
from django.test import Client, RequestFactory

from courseapp.body_limits import route_limit
from courseapp.tokens import token_create
from projects import demo as projects_demo

GB2 = str(2 * 1024**3)
MB = 1024 * 1024
SUBMIT = "/api/courses/ceng501-2024f/projects/final-code/submissions/"


@pytest.fixture
def project(course, settings, tmp_path):
    settings.SUBMISSIONS_ROOT = tmp_path / "submissions"
    settings.HARNESS_ROOT = tmp_path / "harnesses"
    return projects_demo.load(course=course)


def declared_post(client: Client, path: str, length: str, **extra):
    return client.post(path, data=b"x=1", content_type="application/x-www-form-urlencoded",
                       CONTENT_LENGTH=length, **extra)


def test_anonymous_login_post_declaring_2_gb_is_refused_unread(client, course):
    response = declared_post(client, "/login/", GB2)
    assert response.status_code == 413
    assert response.content.decode() == (
        "The request body is 2048 MB; this address accepts at most 1 MB. "
        "Send a smaller file (project uploads: leave out data sets and checkpoints)."
    )


def test_anonymous_token_post_declaring_2_gb_gets_json(client, course):
    response = declared_post(client, "/api/auth/token/", GB2)
    assert response.status_code == 413
    assert response.json()["limit_bytes"] == 1024 * 1024
    assert "at most 1 MB" in response.json()["detail"]


def test_a_student_submission_is_refused_above_the_projects_limit(client_for, student, project):
    response = declared_post(client_for(student), SUBMIT, GB2)
    assert response.status_code == 413
    assert "accepts at most 50 MB" in response.json()["detail"]


def test_the_projects_own_limit_is_the_one_applied(client_for, student, project):
    project.max_upload_mb = 5
    project.save(update_fields=["max_upload_mb"])
    response = declared_post(client_for(student), SUBMIT, str(6 * MB))
    assert response.status_code == 413
    assert "at most 5 MB" in response.json()["detail"]


def test_an_anonymous_upload_gets_the_small_limit(client, project):
    response = declared_post(client, SUBMIT, str(20 * MB))
    assert response.status_code == 413
    assert "at most 1 MB" in response.json()["detail"]


def test_a_forged_session_cookie_gets_the_small_limit(client, project):
    client.cookies["sessionid"] = "not-a-session"
    assert declared_post(client, SUBMIT, str(20 * MB)).status_code == 413


def test_a_wrong_token_passes_the_size_check_and_drf_refuses_it_before_reading(client, project):
    # 20 MB is within the route's limit for a client that shows credentials; DRF authenticates
    # before it parses the body, so the unsent body is never read (FakePayload would raise).
    response = declared_post(client, SUBMIT, str(20 * MB), HTTP_AUTHORIZATION="Token not-a-token")
    assert response.status_code == 401


def test_a_token_client_is_refused_above_the_projects_limit(client, student, project):
    token = token_create(user=student)[1]
    response = declared_post(client, SUBMIT, GB2, HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 413


@pytest.mark.parametrize("path", [
    "/courses/ceng501-2024f/grades/import/",
    "/api/courses/ceng501-2024f/grades/import/preview/",
    "/courses/ceng501-2024f/roster/import/",
    "/api/courses/ceng501-2024f/roster/preview/",
])
def test_imports_accept_10_mb_and_no_more(client_for, instructor, course, path):
    response = declared_post(client_for(instructor), path, str(11 * MB))
    assert response.status_code == 413
    assert "at most 10 MB" in response.content.decode()


def test_forms_and_api_calls_of_logged_in_users_are_small_too(client_for, instructor, course):
    response = declared_post(client_for(instructor), "/api/courses/ceng501-2024f/grade-categories/", str(2 * MB))
    assert response.status_code == 413
    assert "at most 1 MB" in response.json()["detail"]


def test_the_harness_upload_takes_a_large_bundle_from_the_instructor_only(client_for, instructor, student, project):
    path = "/courses/ceng501-2024f/projects/parts/final-code/harness/"
    assert "at most 1024 MB" in declared_post(client_for(instructor), path, GB2).content.decode()
    assert "at most 1024 MB" in declared_post(client_for(student), path, GB2).content.decode()  # logged in...
    # ...but the view itself refuses the student before reading (access check first).
    assert route_limit(RequestFactory().post(path)) == 1 * MB  # anonymous


def test_limits_come_from_settings(client, course, settings):
    settings.REQUEST_BODY_MAX_BYTES = 64 * 1024
    response = declared_post(client, "/login/", str(100 * 1024))
    assert response.status_code == 413
    assert "at most 64 KB" in response.content.decode()


def test_a_small_body_goes_through_untouched(client, course):
    response = client.post("/login/", {"username": "nobody", "password": "x"})
    assert response.status_code == 200  # the form again, with its error


def test_an_unknown_route_gets_the_small_limit(client, course):
    assert declared_post(client, "/no/such/page/", GB2).status_code == 413


def test_a_content_length_that_is_not_a_number_is_left_to_django(client, course):
    response = client.post("/login/", data=b"", content_type="application/x-www-form-urlencoded",
                           CONTENT_LENGTH="lots")
    assert response.status_code != 413


def test_a_dataset_chunk_may_be_as_large_as_the_chunk_setting(client_for, instructor, course, settings):
    settings.DATASET_UPLOAD_CHUNK_MB = 4
    path = "/api/courses/ceng501-2024f/datasets/uploads/abc123/"
    client = client_for(instructor)
    response = client.put(path, data=b"x", content_type="application/octet-stream", CONTENT_LENGTH=str(5 * MB))
    assert response.status_code == 413 and "at most 4 MB" in response.json()["detail"]
    # Within the chunk size the view answers (the upload id is unknown: its own 404, not a size refusal).
    response = client.put(path, data=b"x", content_type="application/octet-stream", CONTENT_LENGTH="1",
                          HTTP_UPLOAD_OFFSET="0")
    assert response.status_code != 413


@pytest.mark.parametrize("path", [
    "/api/courses/ceng501-2024f/questions/moodle-xml/",
    "/courses/ceng501-2024f/quizzes/bank/import-xml/",
    "/api/courses/ceng501-2024f/questions/gift/",
])
def test_question_imports_take_the_import_limit(client_for, instructor, course, path):
    response = declared_post(client_for(instructor), path, str(11 * MB))
    assert response.status_code == 413
    assert "at most 10 MB" in response.content.decode()
    assert route_limit(RequestFactory().post(path)) == 1 * MB  # anonymous: the small limit
