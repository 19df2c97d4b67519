"""Bulk grade import from a CSV file: a plan (what would change, or every bad line), then all of it or nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction

from courseapp.csvfiles import sniff_dialect, without_bom
from courseapp.models import Course, Membership, Role, User
from courseapp.numbers import format_points

from .. import exports
from ..access import can_edit_item
from ..models import Grade, GradeItem, GradeState
from .grades import grade_set, parse_grade_points

MAX_IMPORT_BYTES = 5 * 1024 * 1024
STUDENT_NUMBER_HEADERS = {"student number", "student_number", "student no", "id number", "idnumber", "number"}


@dataclass
class ImportChange:
    line: int
    student_id: int
    student_number: str
    student_name: str
    item_id: int
    item_name: str
    old: str  # "7.5", "EX" or "" (missing)
    new: str


@dataclass
class ImportPlan:
    """What an import would do: changes to apply, or errors (by line) that block all of it."""

    changes: list[ImportChange] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    unchanged: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def _decode(data: bytes | str) -> str:
    """The file's text: UTF-8 with or without a byte order mark, else cp1254 (Excel on Turkish Windows)."""
    if isinstance(data, str):
        return without_bom(data)
    if not isinstance(data, bytes):
        raise ValidationError("Send the CSV as a file (multipart “file”) or as text (“csv”).")
    if len(data) > MAX_IMPORT_BYTES:
        raise ValidationError("The file is larger than 5 MB; split it or remove unused columns.")
    for encoding in ("utf-8-sig", "cp1254"):  # Excel on Turkish Windows saves CSV as cp1254
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError("The file is not text; save it as CSV (UTF-8) and upload again.")


def import_plan(*, course: Course, data: bytes | str, by: User) -> ImportPlan:
    """Read a CSV (student number + one column per item, or the export's own layout) and
    compare it with the gradebook. Nothing is written.

    The file: comma, semicolon or tab separated (guessed as the roster import does,
    courseapp.csvfiles), UTF-8 with or without a byte order mark, or cp1254.
    Headers: a student-number column ("Student number" or "ID number") and columns named
    like grade items (name or short name, an optional " (Real)" suffix as in Moodle's
    layout, or the points possible the gradebook export writes: "Quiz 1 (10)"); other
    columns (names, totals) are ignored. Cells: points as courseapp.numbers reads them
    ("7.5" or "7,5"), "EX" to excuse, empty or "-" to leave as is. A "Points possible" row
    (older exports) is skipped. Errors are reported
    per line (the header is line 1): unknown student, not a number, above the maximum on
    an item without extra credit, a student twice, items the user may not edit.
    """
    text = _decode(data)
    # newline="": a file saved with bare CR line endings (old Mac Excel) reads as lines, not one field.
    reader = csv.reader(io.StringIO(text, newline=""), sniff_dialect(text))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise ValidationError(f"Line {reader.line_num}: the CSV cannot be read ({exc}); save it again as "
                              "CSV (UTF-8) from your spreadsheet program.") from None
    plan = ImportPlan()
    if not rows:
        plan.errors.append("The file is empty; export the gradebook to see the expected layout.")
        return plan
    header = [h.strip() for h in rows[0]]
    lower = [h.lower() for h in header]
    number_col = next((k for k, h in enumerate(lower) if h in STUDENT_NUMBER_HEADERS), None)
    if number_col is None:
        found = ", ".join(f"“{h}”" for h in header[:6] if h) or "none"
        plan.errors.append(f"Line 1: no “Student number” column (the columns found are: {found}); name the column "
                           "of METU numbers “Student number” or “ID number”, and separate columns with commas, "
                           "semicolons or tabs.")
        return plan
    items: dict[str, GradeItem] = {}
    for item in GradeItem.objects.filter(course=course):
        for key in {item.name, item.short_name} - {""}:
            items[key.lower()] = item
    columns: dict[int, GradeItem] = {}
    for k, h in enumerate(lower):
        item_found = _item_of_header(h, items)
        if k != number_col and item_found is not None:
            columns[k] = item_found
    if not columns:
        plan.errors.append("Line 1: no column is named like a grade item; use the item names as headers.")
        return plan
    plan.items = [item.name for item in columns.values()]
    students = {
        m.user.student_number: m.user
        for m in Membership.objects.filter(course=course, role=Role.STUDENT).select_related("user")
        if m.user.student_number
    }
    existing = {
        (g.student_id, g.item_id): g
        for g in Grade.objects.filter(item__in=list(columns.values()))
    }
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        number = row[number_col].strip().lstrip("'") if number_col < len(row) else ""
        if number.lower() == exports.POINTS_POSSIBLE.lower():
            continue
        if not number:
            plan.errors.append(f"Line {line}: no student number.")
            continue
        student = students.get(number)
        if student is None:
            plan.errors.append(f"Line {line}: unknown student “{number}”: not a student of {course.number}.")
            continue
        if number in seen:
            plan.errors.append(f"Line {line}: student {number} appears twice (also on line {seen[number]}).")
            continue
        seen[number] = line
        for k, item in columns.items():
            cell = row[k].strip().lstrip("'") if k < len(row) else ""
            if cell in ("", "-"):
                continue
            grade = existing.get((student.pk, item.pk))
            old = _grade_text(grade)
            if cell.upper() in {"EX", "E", "EXCUSED"}:
                new = exports.EXCUSED
            else:
                try:
                    points = parse_grade_points(cell, item=item)
                except ValidationError as exc:
                    plan.errors.append(f"Line {line}, {item.name}: {exc.messages[0]}")
                    continue
                new = format_points(points)
            if new == old:
                plan.unchanged += 1
                continue
            if not can_edit_item(by, item):
                plan.errors.append(f"Line {line}, {item.name}: you may not edit this item's grades.")
                continue
            plan.changes.append(ImportChange(
                line=line, student_id=student.pk, student_number=number, student_name=str(student),
                item_id=item.pk, item_name=item.name, old=old, new=new,
            ))
    return plan


def _item_of_header(header: str, items: dict[str, GradeItem]) -> GradeItem | None:
    """The item a (lower-case) header names: its name or short name as is, else without Moodle's
    " (real)" or the export's points possible (" (10)", " (5, extra credit)")."""
    for name in (header, header[:-7].strip() if header.endswith(" (real)") else None,
                 exports.POSSIBLE_SUFFIX.sub("", header)):
        if name and name in items:
            return items[name]
    return None


def _grade_text(grade: Grade | None) -> str:
    if grade is None:
        return ""
    if grade.state == GradeState.EXCUSED:
        return exports.EXCUSED
    return format_points(grade.points)


@transaction.atomic
def import_apply(*, course: Course, data: bytes | str, by: User, reason: str = "CSV import") -> ImportPlan:
    """Check the file again and apply every change in one transaction, or nothing.

    Raises ValidationError with every error when the file has any; each applied change
    goes through grade_set (history source "import").
    """
    plan = import_plan(course=course, data=data, by=by)
    if not plan.ok:
        raise ValidationError(plan.errors)
    items = {i.pk: i for i in GradeItem.objects.filter(course=course)}
    users = {u.pk: u for u in User.objects.filter(pk__in={c.student_id for c in plan.changes})}
    for change in plan.changes:
        excused = change.new == exports.EXCUSED
        grade_set(
            item=items[change.item_id], student=users[change.student_id],
            points=None if excused else Decimal(change.new), by=by,
            state=GradeState.EXCUSED if excused else GradeState.GRADED, reason=reason, source="import",
        )
    return plan
