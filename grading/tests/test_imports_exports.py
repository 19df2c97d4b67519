"""CSV import (preview, atomic apply, errors by line), exports and the management commands."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import openpyxl
import pandas as pd
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
    assert "no “Student number” column (the columns found are: “Name”, “Quiz 1”)" in plan.errors[0]


@pytest.mark.parametrize("separator", [";", "\t"])
def test_semicolon_and_tab_separated_files_with_a_bom_are_read(book, instructor, separator):
    a, b, _ = numbers(book)
    text = (f"Student number{separator}Quiz 4{separator}Final exam\r\n"
            f"{a.student_number}{separator}7,5{separator}\r\n{b.student_number}{separator}EX{separator}88\r\n")
    for data in (("\ufeff" + text).encode("utf-8"), "\ufeff" + text):
        plan = import_plan(course=book, data=data, by=instructor)
        assert plan.ok, plan.errors
        assert [(c.line, c.item_name, c.new) for c in plan.changes] == [
            (2, "Quiz 4", "7.5"), (3, "Quiz 4", "EX"), (3, "Final exam", "88")]


def test_import_refuses_a_third_decimal_and_reads_headers_with_points_possible(book, instructor):
    a, *_ = numbers(book)
    plan = import_plan(course=book, data=f"Student number,Quiz 4 (10),Final exam (100)\n{a.student_number},7.255,9\n",
                       by=instructor)
    assert plan.errors == ["Line 2, Quiz 4: 7.255 has more than two decimals; round it to hundredths (like 7.25)."]


def test_an_old_export_with_a_points_possible_row_still_imports(book, instructor):
    a, *_ = numbers(book)
    data = f"Student number,Quiz 4\nPoints possible,10\n{a.student_number},6\n"
    plan = import_plan(course=book, data=data, by=instructor)
    assert plan.ok and [(c.line, c.new) for c in plan.changes] == [(3, "6")]


def test_export_reimports_with_no_changes(book, instructor):
    a, *_ = numbers(book)
    grade_set(item=book.grade_items.get(name="Final exam"), student=a, points=Decimal("66.25"), by=instructor)
    out = io.StringIO()
    call_command("export_grades", book.code, stdout=out)
    plan = import_plan(course=book, data=out.getvalue(), by=instructor)
    assert plan.ok and plan.changes == [] and plan.unchanged >= 121


def test_export_layout_points_possible_in_headers_totals_and_letter(book, instructor):
    a, *_ = numbers(book)
    grade_set(item=book.grade_items.get(name="Final exam"), student=a, points=Decimal("80"), by=instructor)
    out = io.StringIO()
    call_command("export_grades", book.code, stdout=out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert "Final exam (100)" in rows[0] and "Quiz 1 (10)" in rows[0]
    assert all(r["Student number"] != "Points possible" for r in rows)  # every row is a student
    row = next(r for r in rows if r["Student number"] == a.student_number)
    assert row["Final exam (100)"] == "80" and row["Final exam % (current)"] == "80.00"
    assert row["Letter"] and row["Current total %"] and row["Final total %"]
    assert len(rows) == 40


def test_csv_export_reads_into_pandas_with_one_type_per_column(book, instructor):
    a, *_ = numbers(book)
    quiz = book.grade_items.get(name="Quiz 1")
    grade_set(item=quiz, student=a, points=None, by=instructor, state=GradeState.EXCUSED)
    table = pd.read_csv(io.BytesIO(client_get(book, instructor, "grading-export-csv")))
    assert len(table) == 40 and not table["Student number"].isna().any()
    assert table["Student number"].dtype == "int64"  # METU numbers, no text row among them
    assert str(a.student_number) in set(table["Student number"].astype(str))
    as_text = pd.read_csv(io.BytesIO(client_get(book, instructor, "grading-export-csv")), dtype={"Student number": str})
    assert set(as_text["Student number"]) == {u.student_number for u in numbers(book, 40)}
    assert table["Final exam (100)"].dtype.kind in "fi" and table["Current total %"].dtype.kind == "f"
    assert table.loc[table["Student number"] == int(a.student_number), "Quiz 1 (10)"].item() == "EX"


def test_xlsx_export_writes_points_and_percentages_as_numbers(book, instructor):
    a, *_ = numbers(book)
    grade_set(item=book.grade_items.get(name="Final exam"), student=a, points=Decimal("66.25"), by=instructor)
    grade_set(item=book.grade_items.get(name="Quiz 1"), student=a, points=None, by=instructor,
              state=GradeState.EXCUSED)
    sheet = openpyxl.load_workbook(io.BytesIO(client_get(book, instructor, "grading-export-xlsx"))).active
    header = [c.value for c in sheet[1]]
    assert header[0] == "Student number" and "Points possible" not in [sheet.cell(2, 1).value]
    row = next(r for r in sheet.iter_rows(min_row=2) if r[0].value == a.student_number)
    cell = dict(zip(header, row, strict=True))
    assert cell["Final exam (100)"].data_type == "n" and cell["Final exam (100)"].value == 66.25
    assert cell["Current total %"].data_type == "n" and isinstance(cell["Current total %"].value, float)
    assert cell["Quiz 1 (10)"].value == "EX" and cell["Quiz 1 (10)"].data_type == "s"
    assert cell["Student number"].data_type == "s" and cell["Letter"].data_type == "s"
    frame = pd.read_excel(io.BytesIO(client_get(book, instructor, "grading-export-xlsx")))
    assert len(frame) == 40 and frame["Final exam (100)"].dtype.kind == "f"


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


def test_moodle_layout_has_id_number_email_and_real_columns(book, instructor):
    content = client_get(book, instructor, "grading-export-moodle").decode()
    header = next(csv.reader(io.StringIO(content)))
    assert header[:4] == ["First name", "Last name", "ID number", "Email address"]
    assert "Quiz 1 (Real)" in header and "Final exam (Real)" in header
    table = pd.read_csv(io.StringIO(content), dtype=str)
    emails = {u.student_number: u.email for u in numbers(book, 40)}
    assert all(emails.values()) and dict(zip(table["ID number"], table["Email address"], strict=True)) == emails
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
    assert sheet.cell(1, 1).value == "Student number" and sheet.max_row == 41  # the header and 40 students


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
