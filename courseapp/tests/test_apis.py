"""The course API through HTTP: token and session auth, each role allowed and refused."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from courseapp.demo import DEMO_PASSWORD
from courseapp.models import Membership, Role, User

GOOD = "student number,first name,last name,email\n2499001,Şule,Çağlar,sule.caglar@metu.edu.tr\n"


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def base(course):
    return f"/api/courses/{course.code}/"


# --- tokens -----------------------------------------------------------------------------

def test_token_from_username_and_password_then_use_it(course, student):
    response = APIClient().post("/api/auth/token/", {"username": student.username, "password": DEMO_PASSWORD},
                                format="json")
    assert response.status_code == 200
    token = response.json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    courses = client.get("/api/courses/").json()["results"]
    assert [(c["code"], c["my_role"]) for c in courses] == [(course.code, "student")]


def test_token_with_a_wrong_password_is_refused(course, student):
    response = APIClient().post("/api/auth/token/", {"username": student.username, "password": "wrong"},
                                format="json")
    assert response.status_code == 400
    assert "Unable to log in with provided credentials." in str(response.json())


@pytest.mark.parametrize("path", ["", "lectures/", "enrollments/"])
def test_anonymous_gets_401_with_a_token_challenge(course, path):
    response = APIClient().get(base(course) + path)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert APIClient().get("/api/courses/").status_code == 401


# --- courses --------------------------------------------------------------------------

def test_my_courses_lists_only_mine(course, outsider, ta):
    assert api(outsider).get("/api/courses/").json()["results"] == []
    assert [c["my_role"] for c in api(ta).get("/api/courses/").json()["results"]] == ["ta"]


def test_course_detail_is_the_syllabus(course, student):
    data = api(student).get(base(course)).json()
    assert (data["number"], data["credits_theoretical"], data["credits_laboratory"], data["ects"]) == (
        "CENG 501", 3, 0, "8.0")
    assert (data["lecture_weekday"], data["lecture_start"], data["lecture_end"], data["lecture_room"]) == (
        2, "09:40:00", "11:30:00", "BMB2")
    assert data["my_role"] == "student"
    assert [(s["name"], s["role"], s["office_hours"]) for s in data["staff"]][0] == (
        "Sinan Kalkan", "instructor", "By appointment")
    assert [(g["name"], g["weight"]) for g in data["grading"]] == [
        ("Quizzes", "20.000"), ("Final exam", "35.000"), ("Project", "45.000")]
    assert len(data["textbooks"]) == 3
    assert "calendar_token" not in data


@pytest.mark.parametrize("path", ["", "lectures/", "enrollments/"])
def test_outsider_gets_404(course, outsider, path):
    assert api(outsider).get(base(course) + path).status_code == 404


def test_unknown_course_is_404(course, student):
    assert api(student).get("/api/courses/nope/").status_code == 404


# --- lectures ---------------------------------------------------------------------------

def test_lectures_all_14_with_istanbul_times(course, student):
    results = api(student).get(base(course) + "lectures/").json()["results"]
    assert [r["week"] for r in results] == list(range(1, 15))
    first = dt.date(2024, 10, 2)
    for i, row in enumerate(results):
        day = first + dt.timedelta(weeks=i)
        assert row["starts_at"] == f"{day.isoformat()}T09:40:00+03:00"
        assert row["ends_at"] == f"{day.isoformat()}T11:30:00+03:00"
        assert row["room"] == "BMB2"
    nov13 = results[6]
    assert (nov13["topic"], nov13["subtopics"]) == (
        "Large-Language Models", ["Using Pretrained LLMs", "Retrieval Augmented Generation", "Efficient Finetuning"])


# --- enrollments ------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["instructor", "ta"])
def test_staff_list_enrollments(course, who, request):
    results = api(request.getfixturevalue(who)).get(base(course) + "enrollments/").json()["results"]
    assert [r["role"] for r in results[:3]] == ["instructor", "ta", "ta"]
    assert sum(r["role"] == "student" for r in results) == 40
    assert {"username", "student_number", "first_name", "last_name", "email"} <= set(results[3])


def test_student_is_refused_enrollments(course, student):
    response = api(student).get(base(course) + "enrollments/")
    assert response.status_code == 403
    assert response.json()["detail"] == "Your role in this course does not allow this."


def test_enrollments_query_count_does_not_grow_with_students(course, instructor):
    client = api(instructor)
    with CaptureQueriesContext(connection) as before:
        client.get(base(course) + "enrollments/")
    for i in range(10):
        user = User.objects.create(username=f"extra{i}", student_number=f"29{i:05d}")
        Membership.objects.create(course=course, user=user, role=Role.STUDENT)
    with CaptureQueriesContext(connection) as after:
        response = client.get(base(course) + "enrollments/")
    assert response.json()["count"] == 53
    assert len(after) == len(before) <= 4


# --- roster import ------------------------------------------------------------------------

def test_instructor_previews_then_applies_by_json(course, instructor):
    client = api(instructor)
    preview = client.post(base(course) + "roster/preview/", {"csv": GOOD}, format="json").json()
    assert preview["ok"] is True and preview["counts"]["create"] == 1
    assert preview["rows"][0]["username"] == "e2499001"
    assert not User.objects.filter(username="e2499001").exists()
    result = client.post(base(course) + "roster/apply/", {"csv": GOOD}, format="json")
    assert result.status_code == 200
    assert result.json() == {"created": 1, "enrolled": 0, "updated": 0, "unchanged": 0}
    assert Membership.objects.filter(course=course, user__username="e2499001", role=Role.STUDENT).exists()


def test_instructor_uploads_a_file_with_a_bom(course, instructor):
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("roster.csv", ("\ufeff" + GOOD).encode("utf-8"), content_type="text/csv")
    response = api(instructor).post(base(course) + "roster/preview/", {"file": upload}, format="multipart")
    assert response.status_code == 200 and response.json()["rows"][0]["first_name"] == "Şule"


def test_apply_with_a_bad_row_is_400_with_lines_and_applies_nothing(course, instructor):
    response = api(instructor).post(base(course) + "roster/apply/", {"csv": GOOD + "2499002,A,,a@b.de\n"},
                                    format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == [{"field": "line 3", "message": "last name is missing."}]
    assert not User.objects.filter(username="e2499001").exists()


def test_roster_upload_without_csv_says_what_to_send(course, instructor):
    response = api(instructor).post(base(course) + "roster/preview/", {}, format="json")
    assert response.status_code == 400
    assert "Send the roster as a multipart 'file' or as 'csv' text." in str(response.json())


@pytest.mark.parametrize("who", ["ta", "student"])
@pytest.mark.parametrize("op", ["preview", "apply"])
def test_roster_import_refused_to_ta_and_student(course, who, op, request):
    response = api(request.getfixturevalue(who)).post(base(course) + f"roster/{op}/", {"csv": GOOD}, format="json")
    assert response.status_code == 403
    assert not User.objects.filter(username="e2499001").exists()


def test_roster_import_anonymous_401_outsider_404(course, outsider):
    assert APIClient().post(base(course) + "roster/apply/", {"csv": GOOD}, format="json").status_code == 401
    assert api(outsider).post(base(course) + "roster/apply/", {"csv": GOOD}, format="json").status_code == 404


# --- schema and docs --------------------------------------------------------------------

def test_schema_describes_the_course_endpoints(client, course):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in ["/api/auth/token/", "/api/courses/", "/api/courses/{code}/", "/api/courses/{code}/lectures/",
                 "/api/courses/{code}/enrollments/", "/api/courses/{code}/roster/preview/",
                 "/api/courses/{code}/roster/apply/"]:
        assert path in paths, path


def test_api_docs_page_loads(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
