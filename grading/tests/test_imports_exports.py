"""CSV import (preview, atomic apply, errors by line), exports and the management commands."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from courseapp.tests.openapi import messages
from grading.models import Grade, GradeChange, GradeState
from grading.services import grade_set, import_apply, import_plan


def numbers(course, n=3):
    from courseapp.models import Membership, Role

    members = Membership.objects.filter(course=course, role=Role.STUDENT).select_related("user").order_by("user__username")
    return [m.user for m in members[:n]]


def test_preview_lists_changes_and_writes_nothing(book, instructor):
    a, b, _ = numbers(book)
    data = f"Student number,Quiz 4,Final exam\n{a.student_number},7.5,\n{b.student_number},EX,88\n"
    plan = import_plan(course=book, data=data, by=instructor)
    assert plan.ok
    assert [(c.line, c.item_name, c.old, c.new) for c in plan.changes] == [
        (2, "Quiz 4", "", "7.5"), (3, "Quiz 4", "", "EX"), (3, "Final exam", "", "88")]
    assert not Grade.objects.filter(item__name="Quiz 4").exists()


def test_apply_changes_everything_with_history(book, instructor):
    a, b, _ = numbers(book)
    data = f"Student number,Quiz 4,Final exam\n{a.student_number},7.5,\n{b.student_number},EX,88\n"
    import_apply(course=book, data=data, by=instructor)
    assert Grade.objects.get(item__name="Quiz 4", student=a).points == Decimal("7.5")
    assert Grade.objects.get(item__name="Quiz 4", student=b).state == GradeState.EXCUSED
    assert GradeChange.objects.filter(source="import").count() == 3


def test_bad_file_names_every_bad_line_and_applies_nothing(book, instructor):
    a, b, c = numbers(book)
    data = (
        "Student number,Quiz 4,Final exam\n"
        f"{a.student_number},7,50\n"
        "9999999,5,5\n"
        f"{b.student_number},seven,\n"
        f"{c.student_number},11,\n"
        f"{a.student_number},8,\n"
    )
    with pytest.raises(Exception) as info:
        import_apply(course=book, data=data, by=instructor)
    text = " | ".join(info.value.messages)
    assert "Line 3: unknown student “9999999”" in text
    assert "Line 4, Quiz 4: “seven” is not a number" in text
    assert "Line 5, Quiz 4: 11 is above the maximum of 10 for Quiz 4" in text
    assert "Line 6: student " + a.student_number + " appears twice (also on line 2)" in text
    assert not Grade.objects.filter(item__name__in=["Quiz 4", "Final exam"]).exists()
    assert not GradeChange.objects.filter(source="import").exists()


def test_ta_import_of_an_item_not_opened_to_tas_is_refused(book, ta):
    a, *_ = numbers(book)
    plan = import_plan(course=book, data=f"Student number,Final exam\n{a.student_number},70\n", by=ta)
    assert plan.errors == ["Line 2, Final exam: you may not edit this item's grades."]


def test_missing_student_number_column_is_explained(book, instructor):
    plan = import_plan(course=book, data="Name,Quiz 1\nx,5\n", by=instructor)
    assert "no “Student number” column" in plan.errors[0]


def test_export_reimports_with_no_changes(book, instructor):
    a, *_ = numbers(book)
    grade_set(item=book.grade_items.get(name="Final exam"), student=a, points=Decimal("66.25"), by=instructor)
    out = io.StringIO()
    call_command("export_grades", book.code, stdout=out)
    plan = import_plan(course=book, data=out.getvalue(), by=instructor)
    assert plan.ok and plan.changes == [] and plan.unchanged >= 121


def test_export_layout_points_possible_row_totals_and_letter(book, instructor):
    a, *_ = numbers(book)
    grade_set(item=book.grade_items.get(name="Final exam"), student=a, points=Decimal("80"), by=instructor)
    out = io.StringIO()
    call_command("export_grades", book.code, stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["Student number"] == "Points possible" and rows[0]["Final exam"] == "100"
    row = next(r for r in rows if r["Student number"] == a.student_number)
    assert row["Final exam"] == "80" and row["Final exam % (current)"] == "80.00"
    assert row["Letter"] and row["Current total %"] and row["Final total %"]
    assert len(rows) == 41


def test_formula_cells_are_neutralised(book, instructor):
    a, *_ = numbers(book)
    a.first_name = "=HYPERLINK(\"http://evil\")"
    a.last_name = "@SUM(A1)"
    a.save()
    content = client_get(book, instructor, "grading-export-csv").decode()
    assert "'=HYPERLINK" in content and "'@SUM(A1)" in content
    workbook = openpyxl.load_workbook(io.BytesIO(client_get(book, instructor, "grading-export-xlsx")))
    values = [c.value for row in workbook.active.iter_rows() for c in row]
    assert "'=HYPERLINK(\"http://evil\")" in values
    assert not any(isinstance(v, str) and v.startswith("=") for v in values)


def client_get(course, user, name):
    from django.test import Client

    client = Client()
    client.force_login(user)
    response = client.get(reverse(name, kwargs={"code": course.code}))
    assert response.status_code == 200
    return response.content


def test_moodle_layout_has_id_number_and_real_columns(book, instructor):
    content = client_get(book, instructor, "grading-export-moodle").decode()
    header = next(csv.reader(io.StringIO(content)))
    assert header[:4] == ["First name", "Last name", "ID number", "Email address"]
    assert "Quiz 1 (Real)" in header and "Final exam (Real)" in header
    # and our own import reads Moodle's layout back
    plan = import_plan(course=book, data=content, by=instructor)
    assert plan.ok and plan.changes == []


def test_item_report_lists_raw_penalty_and_points(book, instructor):
    from django.test import Client

    quiz = book.grade_items.get(name="Quiz 1")
    client = Client()
    client.force_login(instructor)
    content = client.get(reverse("grading-item-report", kwargs={"code": book.code, "item_id": quiz.pk})).content
    rows = list(csv.DictReader(io.StringIO(content.decode())))
    assert len(rows) == 40 and rows[0]["State"] == "graded" and rows[0]["Raw points"]


def test_export_is_refused_to_students(book, student, client_for):
    assert client_for(student).get(reverse("grading-export-csv", kwargs={"code": book.code})).status_code == 403


def test_export_query_count_is_constant(book, instructor):
    from grading import exports, selectors

    with CaptureQueriesContext(connection) as ctx:
        frame = selectors.gradebook_frame(course=book)
        result = frame.compute()
        exports.to_csv(exports.gradebook_table(frame, result, selectors.letters(frame, result)))
    assert len(ctx) <= 7


def test_import_page_preview_then_apply(book, instructor, client_for):
    from django.core.files.uploadedfile import SimpleUploadedFile

    a, *_ = numbers(book)
    client = client_for(instructor)
    path = reverse("grading-import", kwargs={"code": book.code})
    upload = SimpleUploadedFile("g.csv", f"Student number,Quiz 5\n{a.student_number},9\n".encode())
    response = client.post(path, {"file": upload})
    assert "Preview: 1 change" in response.content.decode()
    assert not Grade.objects.filter(item__name="Quiz 5").exists()
    payload = response.context["payload"]
    response = client.post(path, {"apply": "1", "payload": payload})
    assert response.status_code == 302
    assert Grade.objects.get(item__name="Quiz 5", student=a).points == Decimal("9")


def test_import_api_preview_reports_bad_lines(book, instructor, client_for):
    response = client_for(instructor).post(
        reverse("grading-api-import-preview", kwargs={"code": book.code}),
        {"csv": "Student number,Quiz 5\n123,5\n"}, content_type="application/json")
    assert response.status_code == 400 and "Line 2: unknown student “123”" in messages(response)[0]


def test_import_api_is_refused_to_students(book, student, client_for):
    response = client_for(student).post(reverse("grading-api-import-apply", kwargs={"code": book.code}),
                                        {"csv": "x"}, content_type="application/json")
    assert response.status_code == 403


def test_import_command_dry_run_and_apply(book, tmp_path):
    a, *_ = numbers(book)
    path = tmp_path / "g.csv"
    path.write_text(f"Student number,Quiz 6\n{a.student_number},4.25\n")
    out = io.StringIO()
    call_command("import_grades", book.code, str(path), "--dry-run", stdout=out)
    assert "1 change(s) would be applied" in out.getvalue()
    assert not Grade.objects.filter(item__name="Quiz 6").exists()
    call_command("import_grades", book.code, str(path), stdout=io.StringIO())
    assert Grade.objects.get(item__name="Quiz 6", student=a).points == Decimal("4.25")


def test_import_command_fails_on_a_bad_file(book, tmp_path):
    path = tmp_path / "g.csv"
    path.write_text("Student number,Quiz 6\n0000000,4\n")
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_grades", book.code, str(path), stdout=io.StringIO(), stderr=io.StringIO())


def test_export_command_writes_xlsx_to_a_file(book, tmp_path):
    path = tmp_path / "g.xlsx"
    call_command("export_grades", book.code, "--format", "xlsx", "--output", str(path), stderr=io.StringIO())
    sheet = openpyxl.load_workbook(path).active
    assert sheet.cell(1, 1).value == "Student number" and sheet.max_row == 42


def test_grade_codes_load_the_same_rows_as_the_orm(book, instructor):
    """The export's integer load (COPY on PostgreSQL, fetchall elsewhere) against plain ORM reads."""
    from grading.models import Grade, GradeItem, GradeState
    from grading.selectors import _fetch_int_array, grade_code

    quiz1, quiz2 = GradeItem.objects.get(course=book, name="Quiz 1"), GradeItem.objects.get(course=book, name="Quiz 2")
    a, b, *_ = numbers(book)
    grade_set(item=quiz1, student=a, points=None, by=instructor, state=GradeState.EXCUSED)
    grade_set(item=quiz2, student=b, points=None, by=instructor)  # a row without a number
    grade_set(item=quiz2, student=a, points=Decimal("9.99"), by=instructor)
    qs = Grade.objects.filter(item__course=book).order_by("student_id", "item_id")
    expected = [
        (g.student_id, g.item_id, -2 if g.state == GradeState.EXCUSED else (-1 if g.points is None
                                                                            else int(g.points * 100)))
        for g in qs
    ]
    got = _fetch_int_array(qs.annotate(code=grade_code()).values_list("student_id", "item_id", "code"), 3)
    assert [tuple(row) for row in got.tolist()] == expected
    assert len(expected) > 40 and {-1, -2, 999} <= {row[2] for row in expected}
    assert _fetch_int_array(qs.none().values_list("student_id", "item_id"), 2).shape == (0, 2)
