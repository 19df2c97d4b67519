"""Gradebook API (DRF): one small view per operation. Access through grading.access.

Each operation is documented with extend_schema (operation ids prefixed "grading_"); the
payload serializers live in grading.serializers, and tests/test_api_schema.py holds real
responses of every role to the served schema.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from courseapp.api_errors import BAD, REFUSED, Problem, problem_serializer, validation_problem
from courseapp.models import Course, Role, User
from courseapp.parsers import ObjectJSONParser
from courseapp.request_types import SignedInRequest

from . import access, calculations, exports, forms, options, presenters, selectors, services
from . import serializers as out
from .models import Category, GradeState

# Errors are problem details (courseapp.api_errors): a service's ValidationError propagates to the
# site's exception handler, which answers 400 with every message (by field where one is named).
_REFUSED = REFUSED
_BAD = BAD
_SETUP_BAD = {400: OpenApiResponse(Problem, description="What to fix: `detail`, and every message in `errors` "
                                                        "with the field it is about")}
_DELETED = {204: OpenApiResponse(description="Deleted")}


def _dec(value: object) -> str | None:
    return None if value is None else str(value)




MAX_ID = out.ID_MAX


def _student_id(value: object) -> int:
    """A student id sent by a client; ValidationError saying what to send when it is not a whole number."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValidationError(f"student must be a student's id (a whole number); “{value}” is not.") from None
    # Beyond a 64-bit id no query can be made (SQLite: OverflowError; PostgreSQL: out of range).
    if not 0 <= number <= MAX_ID:
        raise ValidationError(f"student must be a student's id, from 1 to {MAX_ID}; {number} is not.")
    return number



class ItemListApi(APIView):
    """GET: grade items; students see released items only.
    POST (instructor): add an item {name, short_name, category (id), points_possible, weight, due_at,
    extra_credit, never_drop, released, ta_editable, late_penalty_percent, late_penalty_unit,
    late_penalty_floor_percent, position}; due_at in ISO 8601 (without an offset: course time)."""

    @extend_schema(operation_id="grading_items_list", summary="Grade items (students: released items only)",
                   responses={200: out.GradeItemSerializer(many=True), **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> Response:
        _, items = access.access_items(request.user, code)
        return Response(out.GradeItemSerializer(items, many=True).data)

    @extend_schema(operation_id="grading_items_create", summary="Add a grade item (instructor)",
                   request=out.GradeItemInputSerializer,
                   responses={201: out.GradeItemSetupSerializer, **_SETUP_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_setup(request.user, code)
        item = services.item_create(course=course, by=request.user, **_item_values(request.data, course))
        return Response(out.GradeItemSetupSerializer(item).data, status=status.HTTP_201_CREATED)


class GradeListApi(APIView):
    """GET: grades. Staff: every student (?student=<id> for one); students: their own, released items only.
    POST (staff): set one grade {item, student, points | null, state, comment, reason}."""

    @extend_schema(operation_id="grading_grades_list",
                   summary="Stored grades (staff: every student; students: their own on released items)",
                   parameters=[OpenApiParameter("student", OpenApiTypes.INT, required=False,
                                                description="Staff: only this student's grades")],
                   responses={200: out.GradeRowSerializer(many=True), **_BAD, **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> Response:
        course, role = access.access_my_grades(request.user, code)
        students: list[User] | None
        if role == Role.STUDENT:
            students, released_only = [request.user], True
        else:
            student = request.query_params.get("student")
            students = [access.access_student(request.user, course, _student_id(student))] if student else None
            released_only = False
        frame = selectors.gradebook_frame(course=course, students=students, released_only=released_only,
                                          with_details=True)
        d = frame.details
        rows = [
            {"student": int(r.student_id), "item": int(r.item_id), "state": r.state,
             "raw_points": _dec(r.raw_points), "late_penalty_points": _dec(r.late_penalty_points),
             "points": _dec(r.points), "comment": r.comment}
            for r in d.itertuples()
        ] if d is not None else []
        return Response(rows)

    @extend_schema(operation_id="grading_grades_set",
                   summary="Set one grade (instructor; TA on items opened to TAs); returns the new totals",
                   request=out.GradeSetInputSerializer,
                   responses={200: out.GradeSetResultSerializer,
                              400: OpenApiResponse(Problem, description="What to fix: `detail`, and each "
                                                                        "message by field in `errors`"),
                              **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        # Who is asking first: someone outside the course learns nothing from how the body is read.
        access.access_gradebook(request.user, code)
        data = out.GradeSetInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        item = access.access_item(request.user, code, v["item"], for_edit=True)
        student = access.access_student(request.user, item.course, v["student"])
        points = v.get("points")
        points = None if points in (None, "") else points.strip()
        grade = services.grade_set(item=item, student=student, points=points, by=request.user,
                                   state=v["state"], reason=v["reason"], comment=v["comment"])
        frame = selectors.gradebook_frame(course=item.course, students=[student])
        result = frame.compute()
        letters = selectors.letters(frame, result)
        return Response({
            "item": item.pk, "student": student.pk, "state": grade.state, "points": _dec(grade.points),
            "text": exports.EXCUSED if grade.state == GradeState.EXCUSED else calculations.fmt_points(grade.points),
            "comment": grade.comment,
            "current": _dec(result.total_percent(calculations.CURRENT).iloc[0]),
            "final": _dec(result.total_percent(calculations.FINAL).iloc[0]),
            "letter": letters["letter"].iloc[0],
        })


class GradeHistoryApi(APIView):
    """GET: the history of one student's grade on one item (staff)."""

    @extend_schema(operation_id="grading_grade_history", summary="Change history of one grade, newest first (staff)",
                   responses={200: out.GradeHistoryEntrySerializer(many=True), **_REFUSED})
    def get(self, request: SignedInRequest, code: str, item_id: int, student_id: int) -> Response:
        item = access.access_item(request.user, code, item_id)
        student = access.access_student(request.user, item.course, student_id)
        return Response([
            {"changed_at": c.changed_at, "changed_by": str(c.changed_by) if c.changed_by else "system",
             "old_state": c.old_state, "new_state": c.new_state, "old_points": _dec(c.old_points),
             "new_points": _dec(c.new_points), "late_penalty_points": _dec(c.late_penalty_points),
             "old_comment": c.old_comment, "new_comment": c.new_comment, "source": c.source, "reason": c.reason}
            for c in selectors.grade_history(item=item, student_id=student.pk)
        ])


def _upload(request: SignedInRequest) -> bytes | str:
    """The CSV sent as a multipart "file" or as text in "csv"; ValidationError for anything else."""
    if "file" in request.FILES:
        return request.FILES["file"].read()
    text = request.data.get("csv", "")
    if not isinstance(text, str):
        raise ValidationError("csv must be the file's text (a JSON string); or upload the file as multipart "
                              "“file”.")
    return text


_IMPORT_BODY = {
    "multipart/form-data": out.GradeImportFileSerializer,
    "application/json": out.GradeImportTextSerializer,
    "application/x-www-form-urlencoded": out.GradeImportTextSerializer,
}


def _plan_out(plan: services.ImportPlan) -> dict[str, Any]:
    return {"ok": plan.ok, "errors": plan.errors, "items": plan.items, "unchanged": plan.unchanged,
            "changes": [{"line": c.line, "student_number": c.student_number, "student": c.student_name,
                         "item": c.item_name, "old": c.old, "new": c.new} for c in plan.changes]}


_IMPORT_REFUSED = problem_serializer(
    "GradeImportProblem", ok=serializers.BooleanField(help_text="false: nothing can be applied"),
    items=serializers.ListField(child=serializers.CharField(), help_text="The items the file's columns matched"),
    unchanged=serializers.IntegerField(help_text="Cells equal to the stored grade"),
    changes=out.GradeImportChangeSerializer(many=True))


class ImportPreviewApi(APIView):
    """POST a CSV (multipart "file" or JSON/form "csv"): what would change, or the bad lines. Writes nothing."""

    parser_classes = [MultiPartParser, FormParser, ObjectJSONParser]

    @extend_schema(operation_id="grading_import_preview", summary="What a CSV import would change (staff); "
                                                                  "writes nothing",
                   request=_IMPORT_BODY,
                   responses={200: out.GradeImportPlanSerializer,
                              400: OpenApiResponse(_IMPORT_REFUSED,
                                                   description="Problem details with every bad line, or what to "
                                                               "fix in a file that cannot be read, in `errors`; "
                                                               "the plan's other members beside them"),
                              **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course, _ = access.access_gradebook(request.user, code)
        try:
            plan = services.import_plan(course=course, data=_upload(request), by=request.user)
        except ValidationError as exc:  # a file that cannot be read: the same shape, nothing found
            plan = services.ImportPlan(errors=list(exc.messages))
        if plan.ok:
            return Response(_plan_out(plan))
        # Problem details, with what the plan found beside the bad lines (extension members).
        found = _plan_out(plan)
        del found["errors"]
        return validation_problem(ValidationError(plan.errors), request, **found)


class ImportApplyApi(APIView):
    """POST the same CSV: applied atomically, or 400 with every error and nothing changed."""

    parser_classes = [MultiPartParser, FormParser, ObjectJSONParser]

    @extend_schema(operation_id="grading_import_apply", summary="Apply a CSV import, all of it or nothing (staff)",
                   request=_IMPORT_BODY,
                   responses={200: out.GradeImportPlanSerializer,
                              400: OpenApiResponse(Problem, description="Every bad line in `errors`; nothing "
                                                                        "changed"),
                              **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course, _ = access.access_gradebook(request.user, code)
        plan = services.import_apply(course=course, data=_upload(request), by=request.user)
        return Response(_plan_out(plan))


_XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_EXPORT_FILE = "The file, as an attachment: CSV for fmt=csv and fmt=moodle, an Excel workbook for fmt=xlsx"


class ExportApi(APIView):
    """GET ?fmt=csv|xlsx|moodle: the full gradebook file (staff). (DRF reserves ?format=.)"""

    @extend_schema(
        operation_id="grading_export", summary="The gradebook as a file (staff)",
        parameters=[OpenApiParameter("fmt", OpenApiTypes.STR, enum=["csv", "xlsx", "moodle"], default="csv",
                                     description="csv: the gradebook; xlsx: the same as Excel; moodle: Moodle's "
                                                 "grade import CSV")],
        responses={
            (200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description=_EXPORT_FILE),
            (200, _XLSX): OpenApiResponse(OpenApiTypes.BINARY, description=_EXPORT_FILE),
            **_BAD, **_REFUSED,
        },
    )
    def get(self, request: SignedInRequest, code: str) -> HttpResponse | Response:
        course, _ = access.access_gradebook(request.user, code)
        fmt = request.query_params.get("fmt", "csv")
        if fmt not in {"csv", "xlsx", "moodle"}:
            raise ValidationError({"fmt": ["fmt must be csv, xlsx or moodle."]})
        frame = selectors.gradebook_frame(course=course)
        body: bytes | str
        if fmt == "moodle":
            body, ctype = exports.to_csv(exports.moodle_table(frame)), "text/csv"
        else:
            result = frame.compute()
            table = exports.gradebook_table(frame, result, selectors.letters(frame, result))
            body, ctype = ((exports.to_xlsx(table), _XLSX)
                           if fmt == "xlsx" else (exports.to_csv(table), "text/csv; charset=utf-8"))
        response = HttpResponse(body, content_type=ctype)
        ext = "xlsx" if fmt == "xlsx" else "csv"
        response["Content-Disposition"] = f'attachment; filename="{course.code}-{fmt}.{ext}"'
        return response


class SummaryApi(APIView):
    """GET: per student category percentages, totals and letter. Students: their own (released items only)."""

    @extend_schema(operation_id="grading_summary",
                   summary="Categories, totals, letter, drops and late penalties per student "
                           "(staff: every student; students: their own)",
                   responses={200: out.GradeReportSerializer(many=True), **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> Response:
        course, role = access.access_my_grades(request.user, code)
        if role == Role.STUDENT:
            return Response([_report_out(selectors.my_grades_report(course=course, student=request.user))])
        frame = selectors.gradebook_frame(course=course, with_details=True)
        result = frame.compute()
        letters = selectors.letters(frame, result)
        return Response([
            _report_out(presenters.student_report(frame, result, letters, sid)) for sid in frame.students.index
        ])


def _report_out(report: dict[str, Any]) -> dict[str, Any]:
    def conv(value: Any) -> Any:
        if isinstance(value, Decimal):
            return str(value)
        if isinstance(value, dict):
            return {k: conv(v) for k, v in value.items()}
        if isinstance(value, list):
            return [conv(v) for v in value]
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return value

    return conv(report)


class WhatIfApi(APIView):
    """POST {"grades": {"<item id>": "8.5" | "EX" | null}}: the student's totals if those grades were in.

    Runs the same calculation as the real totals; nothing is stored. Students ask about
    themselves (released items); staff may pass "student"."""

    @extend_schema(operation_id="grading_what_if", summary="Totals if these grades were in; nothing is saved",
                   request=out.GradeWhatIfInputSerializer,
                   responses={200: out.GradeReportSerializer, **_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course, role = access.access_my_grades(request.user, code)
        body = request.data
        student_id = request.user.pk if role == Role.STUDENT else _student_id(body.get("student") or 0)
        student = access.access_student(request.user, course, student_id)
        wanted = body.get("grades") or {}
        if not isinstance(wanted, dict):
            raise ValidationError({"grades": ["grades must be an object of item id → points."]})
        frame = selectors.gradebook_frame(course=course, students=[student], released_only=True,
                                          with_details=True)
        grades, errors = calculations.what_if_grades(frame.grades, frame.items, wanted)
        if errors:
            raise ValidationError({"grades": errors})
        result = frame.compute(grades)
        frame.grades = grades
        report = presenters.student_report(frame, result, selectors.letters(frame, result), student.pk,
                                           for_student=True, not_released=selectors.unreleased_item_names(course=course))
        return Response(_report_out(report))


class StatisticsApi(APIView):
    """GET: count, mean, median, standard deviation per item and for the final total (staff)."""

    @extend_schema(operation_id="grading_statistics",
                   summary="Per item and for the final total: counts, mean, median, sd (staff)",
                   responses={200: out.GradeStatisticsRowSerializer(many=True), **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> Response:
        course, _ = access.access_gradebook(request.user, code)
        frame = selectors.gradebook_frame(course=course)
        stats = presenters.statistics_table(frame, frame.compute())
        return Response([{k: _dec(v) if isinstance(v, Decimal) else v for k, v in row.items() if k != "histogram"}
                         for row in stats])


class ReleaseApi(APIView):
    """POST {"released": true|false}: show or hide an item's grades (instructor)."""

    @extend_schema(operation_id="grading_items_release", summary="Show or hide an item's grades (instructor)",
                   request=out.GradeReleaseInputSerializer,
                   responses={200: out.GradeReleaseSerializer, **_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str, item_id: int) -> Response:
        item = access.access_item(request.user, code, item_id)
        body = out.GradeReleaseInputSerializer(data=request.data)
        if not body.is_valid():
            raise ValidationError({"released": ["released must be true or false."]})
        services.item_release(item=item, released=body.validated_data["released"], by=request.user)
        return Response({"id": item.pk, "released": item.released})


class LetterOverrideApi(APIView):
    """POST {"student", "letter" ("" clears), "reason"}: override a final letter (instructor)."""

    @extend_schema(operation_id="grading_letter_overrides_create",
                   summary="Override a student's final letter, or clear the override (instructor)",
                   request=out.GradeLetterOverrideInputSerializer,
                   responses={201: out.GradeLetterOverrideSerializer, **_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_gradebook_as_instructor(request.user, code)
        student_id = _student_id(request.data.get("student") or 0)
        student = access.access_student(request.user, course, student_id)
        row = services.letter_override_set(course=course, student=student,
                                           letter=str(request.data.get("letter") or ""),
                                           reason=str(request.data.get("reason") or ""), by=request.user)
        return Response({"student": student.pk, "letter": row.letter, "reason": row.reason}, status=201)


# --- gradebook set-up (categories and items) -----------------------------------------------------


def _fields(data: Mapping[str, Any], names: Iterable[str]) -> dict[str, Any]:
    return {k: data[k] for k in names if k in data}


def _item_values(data: Mapping[str, Any], course: Course) -> dict[str, Any]:
    """Request data → item_update/item_create values; the due date read like the pages do (see forms.parse_due)."""
    values = _fields(data, services.ITEM_FIELDS)
    if "due_at" in values:
        due = values["due_at"]
        try:
            values["due_at"] = forms.parse_due(None if due is None else str(due), time_zone=course.time_zone)
        except ValueError as exc:
            raise ValidationError({"due_at": [str(exc)]}) from None
    return values


class CategoryListApi(APIView):
    """GET: the course's categories (members), with "weight_warning" when the weights do not add up to 100.
    POST (instructor): add one {name, weight, aggregation, drop_lowest, drop_highest, position, description}."""

    @extend_schema(operation_id="grading_categories_list", summary="The course's grade categories, with the weight "
                                                                   "warning",
                   responses={200: out.GradeCategoryListSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> Response:
        course, _ = access.access_my_grades(request.user, code)
        categories = Category.objects.filter(course=course)
        return Response({"categories": out.GradeCategorySerializer(categories, many=True).data,
                         "weight_warning": selectors.weight_warning(course=course)})

    @extend_schema(operation_id="grading_categories_create", summary="Add a grade category (instructor)",
                   request=out.GradeCategoryInputSerializer,
                   responses={201: out.GradeCategoryChangedSerializer, **_SETUP_BAD, **_REFUSED})
    def post(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_setup(request.user, code)
        category = services.category_create(course=course, by=request.user,
                                            **_fields(request.data, services.CATEGORY_FIELDS))
        return Response({**out.GradeCategorySerializer(category).data, "weight_warning": selectors.weight_warning(course=course)},
                        status=status.HTTP_201_CREATED)


class CategoryDetailApi(APIView):
    """GET (members) one category; PATCH (instructor) some of its fields; DELETE (instructor) an empty one."""

    @extend_schema(operation_id="grading_categories_retrieve", summary="One grade category",
                   responses={200: out.GradeCategorySerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, category_id: int) -> Response:
        return Response(out.GradeCategorySerializer(access.access_category(request.user, code, category_id)).data)

    @extend_schema(operation_id="grading_categories_partial_update",
                   summary="Change some of a category's settings (instructor); a new late penalty base re-applies "
                           "its items' late policies",
                   request=out.GradeCategoryChangeSerializer,
                   responses={200: out.GradeCategoryChangedSerializer, **_SETUP_BAD, **_REFUSED})
    def patch(self, request: SignedInRequest, code: str, category_id: int) -> Response:
        category = access.access_category(request.user, code, category_id, for_setup=True)
        category = services.category_update(category=category, by=request.user,
                                            reason=str(request.data.get("reason") or ""),
                                            **_fields(request.data, services.CATEGORY_FIELDS))
        return Response({**out.GradeCategorySerializer(category).data,
                         "weight_warning": selectors.weight_warning(course=category.course)})

    @extend_schema(operation_id="grading_categories_destroy", summary="Delete an empty category (instructor)",
                   responses={**_DELETED, **_SETUP_BAD, **_REFUSED})
    def delete(self, request: SignedInRequest, code: str, category_id: int) -> Response:
        category = access.access_category(request.user, code, category_id, for_setup=True)
        services.category_delete(category=category, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ItemDetailApi(APIView):
    """GET one item (staff; students: released items); PATCH (instructor) some of its fields, with an
    optional "reason" for the history of grades a new due date or late policy changes; DELETE
    (instructor) an item without grades."""

    @extend_schema(operation_id="grading_items_retrieve", summary="One grade item (students: released items only)",
                   responses={200: out.GradeItemSetupSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str, item_id: int) -> Response:
        item = access.access_visible_item(request.user, code, item_id)
        return Response(out.GradeItemSetupSerializer(item).data)

    @extend_schema(operation_id="grading_items_partial_update",
                   summary="Change some of an item's settings (instructor); new due dates re-apply late policies",
                   request=out.GradeItemChangeSerializer,
                   responses={200: out.GradeItemSetupSerializer, **_SETUP_BAD, **_REFUSED})
    def patch(self, request: SignedInRequest, code: str, item_id: int) -> Response:
        item = access.access_item_for_setup(request.user, code, item_id)
        item = services.item_update(item=item, by=request.user, reason=str(request.data.get("reason", "")),
                                    **_item_values(request.data, item.course))
        return Response(out.GradeItemSetupSerializer(item).data)

    @extend_schema(operation_id="grading_items_destroy", summary="Delete an item without grades (instructor)",
                   responses={**_DELETED, **_SETUP_BAD, **_REFUSED})
    def delete(self, request: SignedInRequest, code: str, item_id: int) -> Response:
        item = access.access_item_for_setup(request.user, code, item_id)
        services.item_delete(item=item, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


def _options_out(course: Course) -> dict[str, Any]:
    overview = selectors.setup_overview(course=course)
    opts = overview["options"]
    return {"weighting": opts.weighting, "missing_percent": _dec(opts.missing_percent),
            "letters_released": opts.letters_released, "weighting_text": overview["weighting_text"],
            "missing_text": overview["missing_text"], "weight_warning": overview["weight_warning"]}


class OptionsApi(APIView):
    """GET (members): the gradebook-wide options and the weighting in force, in words.
    PATCH (instructor): change some of {weighting, missing_percent, letters_released}, with a "reason" for the history."""

    @extend_schema(operation_id="grading_options_retrieve",
                   summary="The gradebook's options: weighting, missing-work policy, letters released",
                   responses={200: out.GradeOptionsSerializer, **_REFUSED})
    def get(self, request: SignedInRequest, code: str) -> Response:
        course, _ = access.access_my_grades(request.user, code)
        return Response(_options_out(course))

    @extend_schema(operation_id="grading_options_partial_update",
                   summary="Change some of the gradebook's options (instructor); each change is kept in the history",
                   request=out.GradeOptionsInputSerializer,
                   responses={200: out.GradeOptionsSerializer, **_SETUP_BAD, **_REFUSED})
    def patch(self, request: SignedInRequest, code: str) -> Response:
        course = access.access_setup(request.user, code)
        options.gradebook_options_update(course=course, by=request.user, reason=str(request.data.get("reason") or ""),
                                         **_fields(request.data, options.OPTION_FIELDS))
        return Response(_options_out(course))
