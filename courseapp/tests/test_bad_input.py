"""No 500 on any input (outside quizzes): each odd body, query or path gets a 400/404 that says what to fix."""

from __future__ import annotations

import io
import json

import openpyxl
import pytest
from django.test import RequestFactory

from courseapp import errors
from courseapp.tests.openapi import assert_problem, field_messages, messages
from courseapp.text import control_character_error, for_export
from grading import demo as grading_demo
from grading.models import Category, GradeItem

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.fixture
def book(course):
    grading_demo.load(course=course)
    return course


def _api(course, rest: str) -> str:
    return f"/api/courses/{course.code}/{rest}"


# --- pagination ---------------------------------------------------------------------------------

@pytest.mark.parametrize("query, name, shown", [
    ("limit=99999999999999999999", "limit", "99999999999999999999"),
    ("offset=99999999999999999999", "offset", "99999999999999999999"),
    ("offset=-5", "offset", "-5"),
    ("limit=0", "limit", "0"),
    ("limit=abc", "limit", "abc"),
    ("limit=%D9%A1", "limit", "\u0661"),  # an Arabic-Indic digit: int() reads it, the database must not see it
])
def test_out_of_range_or_non_numeric_paging_is_a_400_naming_the_range(course, student, client_for, query, name,
                                                                         shown):
    response = client_for(student).get(_api(course, f"lectures/?{query}"))
    assert response.status_code == 400
    low = 1 if name == "limit" else 0
    high = 1000 if name == "limit" else 1000000000
    assert assert_problem(response)["detail"] == f"{name} must be a whole number from {low} to {high}; “{shown}” is not."


def test_paging_in_range_still_pages(course, student, client_for):
    body = client_for(student).get(_api(course, "lectures/?limit=5&offset=10")).json()
    assert body["count"] == 14 and [lecture["week"] for lecture in body["results"]] == [11, 12, 13, 14]


def test_the_schema_states_the_paging_bounds(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    params = {p["name"]: p["schema"] for p in schema["paths"]["/api/courses/{code}/lectures/"]["get"]["parameters"]}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 1000}
    assert params["offset"] == {"type": "integer", "minimum": 0, "maximum": 1000000000}


# --- bodies that are not objects ----------------------------------------------------------------

NOT_AN_OBJECT = "Send a JSON object with named fields (see /api/docs/), not a list."


def test_what_if_with_a_list_body_is_a_400(book, student, client_for):
    response = client_for(student).post(_api(book, "grades/what-if/"), "[null, null]", content_type=JSON)
    assert response.status_code == 400
    assert assert_problem(response)["detail"] == NOT_AN_OBJECT  # refused by the parser (courseapp/parsers.py)


def test_what_if_with_a_scalar_body_is_a_400(book, student, client_for):
    response = client_for(student).post(_api(book, "grades/what-if/"), "3", content_type=JSON)
    assert response.status_code == 400
    assert response.json()["detail"] == "Send a JSON object with named fields (see /api/docs/), not a single value."


@pytest.mark.parametrize("method, rest", [
    ("post", "grades/letter-overrides/"),
    ("post", "grade-categories/"),
    ("post", "grade-items/"),
    ("patch", "grades/options/"),
    ("post", "grades/import/preview/"),
    ("post", "grades/import/apply/"),
])
def test_staff_endpoints_refuse_a_list_body_and_change_nothing(book, instructor, client_for, method, rest):
    before = (Category.objects.count(), GradeItem.objects.count())
    response = getattr(client_for(instructor), method)(_api(book, rest), "[null, null]", content_type=JSON)
    assert response.status_code == 400
    assert response.json()["detail"] == NOT_AN_OBJECT
    assert (Category.objects.count(), GradeItem.objects.count()) == before


def test_category_and_item_patch_refuse_a_list_body(book, instructor, client_for):
    category = Category.objects.filter(course=book).first()
    item = GradeItem.objects.filter(course=book).first()
    client = client_for(instructor)
    for url in (_api(book, f"grade-categories/{category.pk}/"), _api(book, f"grade-items/{item.pk}/")):
        response = client.patch(url, "[1]", content_type=JSON)
        assert response.status_code == 400 and response.json()["detail"] == NOT_AN_OBJECT


@pytest.mark.parametrize("rest", ["grades/letter-overrides/", "grades/what-if/"])
def test_a_student_id_beyond_64_bits_is_a_400(book, instructor, client_for, rest):
    response = client_for(instructor).post(_api(book, rest), {"student": 10**20, "letter": "AA", "reason": "x"},
                                           content_type=JSON)
    assert response.status_code == 400
    assert messages(response) == [f"student must be a student's id, from 1 to {2**63 - 1}; {10**20} is not."]


# --- grade import -------------------------------------------------------------------------------

@pytest.mark.parametrize("rest", ["grades/import/preview/", "grades/import/apply/"])
def test_import_with_csv_as_an_object_is_a_400(book, ta, client_for, rest):
    response = client_for(ta).post(_api(book, rest), json.dumps({"csv": {}}), content_type=JSON)
    assert response.status_code == 400
    assert messages(response) == ["csv must be the file's text (a JSON string); or upload the file as "
                                         "multipart “file”."]


def test_import_with_bare_cr_line_endings_reads_each_line(book, ta, client_for):
    text = "Student number,Quiz 1\r2380001,5\r2380038,6\r"
    response = client_for(ta).post(_api(book, "grades/import/preview/"), json.dumps({"csv": text}),
                                   content_type=JSON)
    assert response.status_code == 200, response.json()
    assert [c["student_number"] for c in response.json()["changes"]] == ["2380001", "2380038"]


def test_import_with_a_form_body_that_is_not_a_csv_says_the_file_is_empty(book, ta, client_for):
    response = client_for(ta).post(_api(book, "grades/import/preview/"), "payload=!!!",
                                   content_type="application/x-www-form-urlencoded")
    assert response.status_code == 400
    assert messages(response) == ["The file is empty; export the gradebook to see the expected layout."]


# --- control characters -------------------------------------------------------------------------

@pytest.mark.parametrize("name, code, position", [("Bad\x00name", "0000", 4), ("Tab\there", "0009", 4),
                                                   ("\x1bEsc", "001B", 1)])
def test_category_name_with_a_control_character_is_refused(book, instructor, client_for, name, code, position):
    before = Category.objects.count()
    response = client_for(instructor).post(_api(book, "grade-categories/"), {"name": name, "weight": "5"},
                                           content_type=JSON)
    assert response.status_code == 400
    message = (f"The category's name contains a control character (U+{code}) at position {position}; "
               "remove it (it is often pasted from another program) and save again.")
    assert field_messages(response, "name") == [message]
    assert Category.objects.count() == before


def test_item_name_with_a_control_character_is_refused_on_patch(book, instructor, client_for):
    item = GradeItem.objects.filter(course=book).first()
    response = client_for(instructor).patch(_api(book, f"grade-items/{item.pk}/"), {"name": "Quiz\x07"},
                                            content_type=JSON)
    assert response.status_code == 400
    assert field_messages(response, "name")[0].startswith("The item's name contains a control character (U+0007)")
    item.refresh_from_db()
    assert "\x07" not in item.name


def test_description_may_hold_line_breaks_but_not_nul(book, instructor, client_for):
    category = Category.objects.filter(course=book).first()
    client = client_for(instructor)
    ok = client.patch(_api(book, f"grade-categories/{category.pk}/"), {"description": "two\nlines"},
                      content_type=JSON)
    assert ok.status_code == 200
    bad = client.patch(_api(book, f"grade-categories/{category.pk}/"), {"description": "nul\x00"},
                       content_type=JSON)
    assert bad.status_code == 400 and "U+0000" in field_messages(bad, "description")[0]


def test_letter_override_reason_with_nul_is_refused(book, instructor, student, client_for):
    response = client_for(instructor).post(_api(book, "grades/letter-overrides/"),
                                           {"student": student.pk, "letter": "AA", "reason": "typo\x00"},
                                           content_type=JSON)
    assert response.status_code == 400
    assert messages(response) == ["The reason contains a control character (U+0000) at position 5; remove "
                                         "it (it is often pasted from another program) and save again."]


def test_letter_override_with_nul_in_the_letter_names_the_scale(book, instructor, student, client_for):
    response = client_for(instructor).post(_api(book, "grades/letter-overrides/"),
                                           {"student": student.pk, "letter": "A\x00", "reason": "x"},
                                           content_type=JSON)
    assert response.status_code == 400
    assert "is not a letter of this course's scale; use one of AA" in messages(response)[0]


def test_xlsx_export_survives_a_control_character_already_in_the_database(book, instructor, client_for):
    """A name stored before the input check (admin, shell, an old version) must not break every export."""
    Category.objects.filter(course=book, name="Quizzes").update(name="Quiz\x01zes")
    GradeItem.objects.filter(course=book, name="Quiz 1").update(name="Quiz\x0b 1")
    client = client_for(instructor)
    for url in (_api(book, "grades/export/?fmt=xlsx"), f"/courses/{book.code}/grades/export.xlsx"):
        response = client.get(url)
        assert response.status_code == 200, url
        sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
        header = [cell.value for cell in sheet[1]]
        assert "Quiz\ufffd 1 (10)" in header
        assert not any("\x0b" in str(h) for h in header)


def test_control_character_helpers():
    assert control_character_error("fine name", label="name") is None
    assert control_character_error("two\nlines", label="text", multiline=True) is None
    assert "U+000A" in control_character_error("two\nlines", label="name")
    assert "U+007F" in control_character_error("del\x7f", label="name")
    assert for_export("a\x00b\tc") == "a\ufffdb\tc"
    assert for_export(3) == 3


# --- API 404s and 500s are JSON -----------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "grade-items/abc/", "grade-categories/1.5/", "grade-items/1/students/x/history/", "projects/runs/-1/",
    "lti/contexts/abc/roster/", "quizzes/abc/", "nowhere/",
])
def test_non_integer_ids_in_api_paths_get_a_json_404(course, instructor, client_for, path):
    response = client_for(instructor).get(_api(course, path))
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert assert_problem(response)["detail"].startswith("Not found: no such API route or object. Ids in paths are whole")


def test_pages_keep_the_html_404(course, instructor, client_for):
    response = client_for(instructor).get(f"/courses/{course.code}/grades/items/abc/report.csv")
    assert response.status_code == 404 and response["Content-Type"].startswith("text/html")


def test_api_500_is_json_and_pages_500_is_html():
    factory = RequestFactory()
    api = errors.server_error(factory.get("/api/courses/"))
    assert api.status_code == 500 and json.loads(api.content)["detail"].startswith("Server error:")
    page = errors.server_error(factory.get("/courses/"))
    assert page.status_code == 500 and page["Content-Type"].startswith("text/html")
