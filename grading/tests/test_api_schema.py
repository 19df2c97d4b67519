"""The gradebook API's OpenAPI schema: clean to generate, and true to what the endpoints send.

Real responses (HTTP, each role, refusals included) are validated against the schema
served at /api/schema/ with undocumented keys refused, so the documented payloads
cannot drift from what apis.py builds (the student report, statistics, import plans).
"""

from __future__ import annotations

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from courseapp.tests.openapi import check, generated_schema, served_schema
from grading.models import Category, GradeItem

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        return served_schema()


A = "/api/courses/{code}"
JSON = "application/json"


def _grading_operations(schema: dict):
    for path, item in schema["paths"].items():
        if re.match(r"^/api/courses/\{code\}/grade(s|-items|-categories)/", path):
            for method, operation in item.items():
                if method != "parameters":
                    yield path, method, operation


def _enum_names(node) -> set[str]:
    if isinstance(node, list):
        return set().union(*map(_enum_names, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    found = {node["$ref"].rsplit("/", 1)[1]} if node.get("$ref", "").endswith("Enum") else set()
    return found.union(*map(_enum_names, node.values())) if node else found


def test_generating_the_schema_warns_about_nothing_in_grading():
    generated, messages = generated_schema()
    ours = {name: c for name, c in generated["components"]["schemas"].items() if name.startswith(("Grade", "Grading"))}
    enums = _enum_names(list(ours.values()))
    assert {"GradeStateEnum", "GradeCellStateEnum", "AggregationEnum", "LatePenaltyUnitEnum", "LatePenaltyBaseEnum",
            "ItemLatePenaltyBaseEnum", "GradeWeightingEnum"} <= enums
    noise = [m for m in messages if "grading" in m or any(f"({name})" in m or f'"{name}"' in m for name in enums)]
    assert noise == []


def test_every_grading_operation_has_its_own_id_and_a_documented_success(schema):
    ids = []
    for path, method, operation in _grading_operations(schema):
        ids.append(operation["operationId"])
        assert operation["operationId"].startswith("grading_"), (path, method)
        assert [c for c in operation["responses"] if c.startswith("2")], (path, method)
        assert {"401", "403", "404"} <= set(operation["responses"]), (path, method)
    assert len(ids) == len(set(ids)) == 23


def test_setup_payloads_match_the_schema(schema, book, instructor, ta, student, outsider, client_for):
    teacher, assistant, learner = client_for(instructor), client_for(ta), client_for(student)
    code = book.code
    cats = f"{A}/grade-categories/"
    listed = check(schema, cats, "get", learner.get(cats.format(code=code)))
    assert listed["weight_warning"] is None and len(listed["categories"]) == 3
    check(schema, cats, "get", Client().get(cats.format(code=code)))  # 401
    check(schema, cats, "get", client_for(outsider).get(cats.format(code=code)))  # 404
    made = check(schema, cats, "post", teacher.post(cats.format(code=code), {
        "name": "Homework", "weight": "10", "aggregation": "mean", "drop_lowest": 0, "description": "Optional"},
        content_type=JSON))
    assert "add up to 110" in made["weight_warning"]
    refused = check(schema, cats, "post", teacher.post(cats.format(code=code), {"name": ""}, content_type=JSON))
    assert {e["field"] for e in refused["errors"]} == {"name", "weight"}
    check(schema, cats, "post", assistant.post(cats.format(code=code), {"name": "X"}, content_type=JSON))  # 403
    one = f"{A}/grade-categories/{{category_id}}/"
    quizzes = Category.objects.get(course=book, name="Quizzes")
    check(schema, one, "get", learner.get(one.format(code=code, category_id=quizzes.pk)))
    check(schema, one, "patch", teacher.patch(one.format(code=code, category_id=made["id"]), {"weight": "0"},
                                              content_type=JSON))
    check(schema, one, "patch", teacher.patch(one.format(code=code, category_id=quizzes.pk),
                                              {"drop_lowest": 50}, content_type=JSON))  # 400: too many drops
    check(schema, one, "delete", teacher.delete(one.format(code=code, category_id=quizzes.pk)))  # 400: has items
    check(schema, one, "delete", assistant.delete(one.format(code=code, category_id=made["id"])))  # 403
    check(schema, one, "get", learner.get(one.format(code=code, category_id=10**6)))  # 404

    items = f"{A}/grade-items/"
    hidden = GradeItem.objects.get(course=book, name="Quiz 9")
    hidden.released = False
    hidden.save(update_fields=["released"])
    seen = check(schema, items, "get", learner.get(items.format(code=code)))
    assert hidden.pk not in {i["id"] for i in seen}
    check(schema, items, "get", assistant.get(items.format(code=code)))
    item = check(schema, items, "post", teacher.post(items.format(code=code), {
        "name": "Homework 1", "short_name": "HW1", "category": made["id"], "points_possible": "20", "weight": None,
        "due_at": "2024-12-01 23:59", "late_penalty_percent": "10", "late_penalty_unit": "hour", "released": True},
        content_type=JSON))
    assert item["due_at"] == "2024-12-01T23:59:00+03:00"
    check(schema, items, "post", teacher.post(items.format(code=code), {"name": "Quiz 1", "category": made["id"],
                                                                        "points_possible": "-1"}, content_type=JSON))
    check(schema, items, "post", learner.post(items.format(code=code), {}, content_type=JSON))  # 403
    one = f"{A}/grade-items/{{item_id}}/"
    check(schema, one, "get", learner.get(one.format(code=code, item_id=item["id"])))
    missing = check(schema, one, "get", learner.get(one.format(code=code, item_id=hidden.pk)))  # 404
    assert missing["detail"] == "No such grade item." and missing["code"] == "not_found"
    check(schema, one, "patch", teacher.patch(one.format(code=code, item_id=item["id"]),
                                              {"due_at": "2024-12-02T12:00:00Z", "reason": "moved"}, content_type=JSON))
    check(schema, one, "patch", teacher.patch(one.format(code=code, item_id=item["id"]), {"due_at": "soon"},
                                              content_type=JSON))  # 400
    graded = GradeItem.objects.get(course=book, name="Quiz 1")
    kept = check(schema, one, "delete", teacher.delete(one.format(code=code, item_id=graded.pk)))  # 400: graded
    assert "grades" in kept["errors"][0]["message"]
    check(schema, one, "delete", teacher.delete(one.format(code=code, item_id=item["id"])))  # 204
    release = f"{A}/grade-items/{{item_id}}/release/"
    shown = check(schema, release, "post", teacher.post(release.format(code=code, item_id=hidden.pk),
                                                        {"released": True}, content_type=JSON))
    assert shown == {"id": hidden.pk, "released": True}
    check(schema, release, "post", teacher.post(release.format(code=code, item_id=hidden.pk), {}, content_type=JSON))
    check(schema, release, "post", assistant.post(release.format(code=code, item_id=hidden.pk),
                                                  {"released": False}, content_type=JSON))  # 403


def test_grade_payloads_match_the_schema(schema, book, instructor, ta, student, other_student, item, client_for):
    teacher, assistant, learner = client_for(instructor), client_for(ta), client_for(student)
    code, quiz, final = book.code, item("Quiz 1"), item("Final exam")
    grades = f"{A}/grades/"
    mine = check(schema, grades, "get", learner.get(grades.format(code=code)))
    assert {row["student"] for row in mine} == {student.pk}
    check(schema, grades, "get", assistant.get(grades.format(code=code), {"student": other_student.pk}))
    check(schema, grades, "get", assistant.get(grades.format(code=code), {"student": "abc"}))  # 400
    check(schema, grades, "get", learner.get(grades.format(code=code), {"student": other_student.pk}))  # 403
    url = grades.format(code=code)
    done = check(schema, grades, "post", teacher.post(url, {"item": final.pk, "student": student.pk, "points": "88",
                                                            "comment": "Well argued", "reason": "exam"},
                                                      content_type=JSON))
    assert done["letter"] and done["final"] is not None
    excused = check(schema, grades, "post", assistant.post(url, {"item": quiz.pk, "student": student.pk,
                                                                 "state": "excused"}, content_type=JSON))
    assert excused["points"] is None and excused["text"] == "EX"
    cleared = check(schema, grades, "post", assistant.post(url, {"item": quiz.pk, "student": student.pk,
                                                                 "points": None}, content_type=JSON))
    assert cleared["text"] == ""
    check(schema, grades, "post", teacher.post(url, {"item": quiz.pk, "student": student.pk, "points": "12"},
                                               content_type=JSON))  # 400 errors: above the maximum
    malformed = check(schema, grades, "post", teacher.post(url, {"item": "x", "student": student.pk,
                                                                 "state": "lost"}, content_type=JSON))
    assert {e["field"] for e in malformed["errors"]} == {"item", "state"}
    check(schema, grades, "post", assistant.post(url, {"item": final.pk, "student": student.pk, "points": "1"},
                                                 content_type=JSON))  # 403: not opened to TAs
    check(schema, grades, "post", Client().post(url, {}, content_type=JSON))  # 401
    history = f"{A}/grade-items/{{item_id}}/students/{{student_id}}/history/"
    changes = check(schema, history, "get", assistant.get(history.format(code=code, item_id=quiz.pk,
                                                                         student_id=student.pk)))
    assert [(c["new_state"], c["new_points"]) for c in changes[:2]] == [("graded", None), ("excused", None)]
    assert changes[-1]["old_state"] == "" and changes[0]["changed_by"] == ta.get_full_name()
    check(schema, history, "get", learner.get(history.format(code=code, item_id=quiz.pk, student_id=student.pk)))


def test_report_payloads_match_the_schema(schema, book, instructor, ta, student, other_student, item, client_for):
    teacher, assistant, learner = client_for(instructor), client_for(ta), client_for(student)
    code, quiz = book.code, item("Quiz 2")
    teacher.post(f"/api/courses/{code}/grades/", {"item": quiz.pk, "student": student.pk, "state": "excused"},
                 content_type=JSON)
    summary = f"{A}/grades/summary/"
    own = check(schema, summary, "get", learner.get(summary.format(code=code)))
    assert [r["student_id"] for r in own] == [student.pk]
    states = {i["state"] for c in own[0]["categories"] for i in c["items"]}
    assert states == {"graded", "excused", "missing"}
    everyone = check(schema, summary, "get", assistant.get(summary.format(code=code)))
    assert len(everyone) > 1 and student.pk in {r["student_id"] for r in everyone}
    what_if = f"{A}/grades/what-if/"
    check(schema, what_if, "post", learner.post(what_if.format(code=code), {
        "grades": {str(item("Quiz 4").pk): "10", str(quiz.pk): None, str(item("Quiz 5").pk): "EX"}}, content_type=JSON))
    check(schema, what_if, "post", assistant.post(what_if.format(code=code), {"student": other_student.pk,
                                                                              "grades": {}}, content_type=JSON))
    check(schema, what_if, "post", learner.post(what_if.format(code=code), {"grades": {str(quiz.pk): "11"}},
                                                content_type=JSON))  # 400
    check(schema, what_if, "post", assistant.post(what_if.format(code=code), {"student": "someone"},
                                                  content_type=JSON))  # 400
    check(schema, what_if, "post", learner.post(what_if.format(code=code), {"student": other_student.pk},
                                                content_type=JSON))  # 403
    stats = f"{A}/grades/statistics/"
    rows = check(schema, stats, "get", assistant.get(stats.format(code=code)))
    assert rows[-1]["id"] is None and rows[-1]["excused"] is None
    check(schema, stats, "get", learner.get(stats.format(code=code)))  # 403

    export = f"{A}/grades/export/"
    for fmt, start in (("csv", b"Student"), ("moodle", b"First name"), ("xlsx", b"PK")):
        body = check(schema, export, "get", assistant.get(export.format(code=code), {"fmt": fmt}))
        assert body.startswith(start) or start in body[:200], fmt
    check(schema, export, "get", assistant.get(export.format(code=code), {"fmt": "pdf"}))  # 400
    check(schema, export, "get", learner.get(export.format(code=code)))  # 403

    letters = f"{A}/grades/letter-overrides/"
    made = check(schema, letters, "post", teacher.post(letters.format(code=code), {
        "student": student.pk, "letter": "ba", "reason": "Medical report"}, content_type=JSON))
    assert made["letter"] == "BA"
    check(schema, letters, "post", teacher.post(letters.format(code=code), {"student": student.pk, "letter": ""},
                                                content_type=JSON))  # 400: no reason
    check(schema, letters, "post", teacher.post(letters.format(code=code), {"student": "x", "reason": "r"},
                                                content_type=JSON))  # 400
    check(schema, letters, "post", assistant.post(letters.format(code=code), {"student": student.pk, "letter": "AA",
                                                                              "reason": "r"}, content_type=JSON))


def test_import_payloads_match_the_schema(schema, book, ta, student, other_student, client_for):
    assistant, learner = client_for(ta), client_for(student)
    code = book.code
    good = f"Student number,Quiz 4\n{student.student_number},7.5\n{other_student.student_number},EX\n"
    preview = f"{A}/grades/import/preview/"
    plan = check(schema, preview, "post", assistant.post(preview.format(code=code), {"csv": good}, content_type=JSON))
    assert plan["ok"] and [c["new"] for c in plan["changes"]] == ["7.5", "EX"]
    upload = SimpleUploadedFile("grades.csv", good.encode(), content_type="text/csv")
    check(schema, preview, "post", assistant.post(preview.format(code=code), {"file": upload}))
    bad = check(schema, preview, "post", assistant.post(preview.format(code=code),
                                                        {"csv": "Student number,Quiz 4\n999,7\n"}))  # form-encoded
    assert bad["ok"] is False and "Line 2" in bad["errors"][0]["message"]
    unreadable = SimpleUploadedFile("grades.csv", b"\x81\x8d\x8f\x90\x9d" * 3, content_type="text/csv")
    check(schema, preview, "post", assistant.post(preview.format(code=code), {"file": unreadable}))
    check(schema, preview, "post", learner.post(preview.format(code=code), {"csv": good}, content_type=JSON))  # 403
    apply = f"{A}/grades/import/apply/"
    applied = check(schema, apply, "post", assistant.post(apply.format(code=code), {"csv": good}, content_type=JSON))
    assert len(applied["changes"]) == 2
    refused = check(schema, apply, "post", assistant.post(apply.format(code=code),
                                                          {"csv": "Student number,Quiz 4\n999,7\n"}, content_type=JSON))
    assert refused["status"] == 400 and "Line 2" in refused["errors"][0]["message"]


def test_options_payloads_match_the_schema(schema, book, instructor, ta, student, outsider, client_for):
    teacher, assistant, learner = client_for(instructor), client_for(ta), client_for(student)
    path = f"{A}/grades/options/"
    url = path.format(code=book.code)
    read = check(schema, path, "get", learner.get(url))
    assert read["weighting"] == "normalised" and read["missing_percent"] is None and not read["letters_released"]
    check(schema, path, "get", Client().get(url))  # 401
    check(schema, path, "get", client_for(outsider).get(url))  # 404
    changed = check(schema, path, "patch", teacher.patch(url, {"weighting": "absolute", "missing_percent": "50",
                                                               "letters_released": True, "reason": "syllabus"},
                                                         content_type=JSON))
    assert changed["missing_percent"] == "50.00" and changed["letters_released"]
    off = check(schema, path, "patch", teacher.patch(url, {"missing_percent": None}, content_type=JSON))
    assert off["missing_percent"] is None and off["missing_text"] == ""
    refused = check(schema, path, "patch", teacher.patch(url, {"weighting": "sum"}, content_type=JSON))  # 400
    assert {e["field"] for e in refused["errors"]} == {"weighting"}
    check(schema, path, "patch", assistant.patch(url, {"letters_released": False}, content_type=JSON))  # 403
    summary = f"{A}/grades/summary/"
    mine = check(schema, summary, "get", learner.get(summary.format(code=book.code)))
    assert mine[0]["letters_released"] and mine[0]["letter"]
