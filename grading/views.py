"""Gradebook pages. Thin: check access, call one selector/service, render."""

from __future__ import annotations

import base64

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from courseapp.models import Role, User
from courseapp.request_types import SignedInHttpRequest

from . import access, exports, forms, options, presenters, selectors, services
from . import calculations as calc
from .calculations import METU_SCALE


@login_required
def gradebook(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Staff: the grid (students × items), totals, letters, statistics. Students go to their own page."""
    course, role = access.access_my_grades(request.user, code)
    if role == Role.STUDENT:
        return redirect("grading-mine", code=code)
    as_students = request.GET.get("view") == "students"
    frame = selectors.gradebook_frame(course=course, with_details=True, released_only=as_students)
    result = frame.compute()
    letters = selectors.letters(frame, result)
    assert frame.options is not None  # gradebook_frame always loads the course's options
    letters_released = bool(frame.options.letters_released)
    items = [
        {**row.to_dict(), "id": int(item_id),
         "editable": not as_students and access.role_may_edit(role, bool(row["ta_editable"]))}
        for item_id, row in frame.items.iterrows()
    ]
    rows = presenters.grid_rows(frame, result, letters, {i["id"] for i in items if i["editable"]})
    if as_students and not letters_released:
        for row in rows:
            row["letter"], row["overridden"] = "", False
    elif as_students:  # released letters come from the whole gradebook, as each student's page shows them
        whole = selectors.gradebook_frame(course=course)
        official = selectors.letters(whole, whole.compute())
        for row in rows:
            row["letter"], row["overridden"] = official.loc[row["id"], "letter"], bool(official.loc[row["id"], "override"])
    return render(request, "grading/gradebook.html", {
        "course": course, "role": role, "items": items, "categories": frame.categories.reset_index().to_dict("records"),
        "rows": rows, "stats": presenters.statistics_table(frame, result),
        "weight_warning": calc.weight_warning(list(frame.categories["weight"]), weighting=frame.options.weighting),
        "as_students": as_students, "letters_released": letters_released,
        "hidden_items": selectors.unreleased_item_names(course=course) if as_students else [],
    })


@login_required
def my_grades(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """A student's own grades (released items only). Staff may preview a student's page with ?student=<id>."""
    course, role = access.access_my_grades(request.user, code)
    student_id = request.user.pk
    if role != Role.STUDENT:
        if "student" not in request.GET:
            return redirect("grading-gradebook", code=code)
        student_id = int(request.GET["student"]) if request.GET["student"].isdigit() else 0
    student = access.access_student(request.user, course, student_id)
    report = selectors.my_grades_report(course=course, student=student)
    return render(request, "grading/my_grades.html", {
        "course": course, "role": role, "student": student, "report": report,
    })


@login_required
def import_grades(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Upload a CSV → preview of the changes (or the bad lines) → apply all at once."""
    course, role = access.access_gradebook(request.user, code)
    context: dict[str, object] = {"course": course, "role": role}
    if request.method == "POST":
        if "apply" in request.POST:
            data = base64.b64decode(request.POST.get("payload", ""))
            try:
                plan = services.import_apply(course=course, data=data, by=request.user)
            except ValidationError as exc:
                context["errors"] = exc.messages
            else:
                messages.success(request, f"Imported {len(plan.changes)} change(s).")
                return redirect("grading-gradebook", code=code)
        elif (upload := request.FILES.get("file")) is not None:
            data = upload.read()
            try:
                plan = services.import_plan(course=course, data=data, by=request.user)
            except ValidationError as exc:
                context["errors"] = exc.messages
            else:
                context.update(plan=plan, payload=base64.b64encode(data).decode())
        else:
            context["errors"] = ["Choose a CSV file to upload."]
    return render(request, "grading/import.html", context)


def _download(content: bytes | str, filename: str, content_type: str) -> HttpResponse:
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@login_required
def export(request: SignedInHttpRequest, code: str, fmt: str) -> HttpResponse:
    """The full gradebook as CSV, Excel or Moodle's import layout."""
    course, _ = access.access_gradebook(request.user, code)
    frame = selectors.gradebook_frame(course=course)
    if fmt == "moodle":
        return _download(exports.to_csv(exports.moodle_table(frame)), f"{course.code}-moodle.csv", "text/csv")
    result = frame.compute()
    table = exports.gradebook_table(frame, result, selectors.letters(frame, result))
    if fmt == "xlsx":
        return _download(exports.to_xlsx(table), f"{course.code}-grades.xlsx",
                         "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return _download(exports.to_csv(table), f"{course.code}-grades.csv", "text/csv; charset=utf-8")


@login_required
def item_report(request: SignedInHttpRequest, code: str, item_id: int) -> HttpResponse:
    item = access.access_item(request.user, code, item_id)
    frame = selectors.gradebook_frame(course=item.course, with_details=True)
    return _download(exports.to_csv(exports.item_report(frame, item.pk)), f"{item.course.code}-item-{item.pk}.csv",
                     "text/csv; charset=utf-8")


@login_required
@require_POST
def release(request: SignedInHttpRequest, code: str, item_id: int) -> HttpResponse:
    item = access.access_item(request.user, code, item_id)
    services.item_release(item=item, released=request.POST.get("released") == "1", by=request.user)
    messages.success(request, f"{item.name}: grades {'released to' if item.released else 'hidden from'} students.")
    return redirect("grading-gradebook", code=code)


@login_required
def letters(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Instructor: edit the letter cut-offs (curve) and override a student's letter with a reason."""
    course = access.access_gradebook_as_instructor(request.user, code)
    errors: list[str] = []
    if request.method == "POST":
        try:
            if request.POST.get("action") == "scale":
                rows = [
                    (letter, _decimal(request.POST.get(f"min_{letter}")), _decimal(request.POST.get(f"gp_{letter}")))
                    for letter in request.POST.getlist("letter")
                ]
                services.letter_scale_set(course=course, rows=rows, by=request.user)
                messages.success(request, "Letter scale saved.")
            elif request.POST.get("action") == "release":
                released = request.POST.get("letters_released") == "1"
                options.gradebook_options_update(course=course, by=request.user, letters_released=released,
                                                 reason=request.POST.get("reason", ""))
                messages.success(request, "Letters released to students." if released else "Letters hidden from "
                                                                                            "students.")
            else:
                student = get_object_or_404(User, pk=request.POST.get("student"))
                services.letter_override_set(course=course, student=student, letter=request.POST.get("letter", ""),
                                             reason=request.POST.get("reason", ""), by=request.user)
                messages.success(request, f"Letter of {student} updated.")
            return redirect("grading-letters", code=code)
        except ValidationError as exc:
            errors = exc.messages
    frame = selectors.gradebook_frame(course=course)
    result = frame.compute()
    table = selectors.letters(frame, result)
    totals = result.total_percent("final")
    assert frame.options is not None  # gradebook_frame always loads the course's options
    students = [
        {"id": sid, "name": frame.students.loc[sid, "name"], "number": frame.students.loc[sid, "student_number"],
         "total": totals[sid], **table.loc[sid].to_dict()}
        for sid in frame.students.index
    ]
    return render(request, "grading/letters.html", {
        "course": course, "role": Role.INSTRUCTOR, "scale": frame.scale, "students": students, "errors": errors,
        "default_scale": METU_SCALE, "letters_released": frame.options.letters_released,
    })


def _decimal(text: str | None):
    from decimal import Decimal, InvalidOperation

    try:
        return Decimal((text or "").strip())
    except InvalidOperation:
        raise ValidationError(f"“{text}” is not a number; enter cut-offs like 87.5.") from None




# --- gradebook set-up (instructor) ---------------------------------------------------------------


def _form_errors(form, exc: ValidationError) -> None:
    """Put a service's ValidationError on the form: per field where it names one, else on top."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
def setup(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Instructor: the course's categories and items, their weights and rules, with links to edit them."""
    course = access.access_setup(request.user, code)
    return render(request, "grading/setup.html", {
        "course": course, "role": Role.INSTRUCTOR, **selectors.setup_overview(course=course),
    })


@login_required
def category_edit(request: SignedInHttpRequest, code: str, category_id: int | None = None) -> HttpResponse:
    """Add (no id) or edit a category."""
    course = access.access_setup(request.user, code)
    category = access.access_category(request.user, code, category_id, for_setup=True) if category_id else None
    if request.method == "POST":
        form = forms.CategoryForm(request.POST)
        if form.is_valid():
            try:
                if category is None:
                    category = services.category_create(course=course, by=request.user, **form.cleaned_data)
                    messages.success(request, f"Category {category.name} added.")
                else:
                    services.category_update(category=category, by=request.user,
                                             reason=request.POST.get("reason", "").strip(), **form.cleaned_data)
                    messages.success(request, f"Category {category.name} saved.")
                return redirect("grading-setup", code=code)
            except ValidationError as exc:
                _form_errors(form, exc)
    else:
        initial = {f: getattr(category, f) for f in services.CATEGORY_FIELDS} if category else {
            "weight": "", "drop_lowest": 0, "drop_highest": 0}
        form = forms.CategoryForm(initial=initial)
    return render(request, "grading/category_form.html", {
        "course": course, "role": Role.INSTRUCTOR, "form": form, "category": category,
    })


def _confirm_delete(request: SignedInHttpRequest, *, course, delete, what: str, done: str, back: str, back_id: int):
    """The shared ask-then-delete page: GET asks; POST calls `delete()` (a service), which may refuse."""
    errors: list[str] = []
    if request.method == "POST":
        try:
            delete()
        except ValidationError as exc:
            errors = exc.messages
        else:
            messages.success(request, done)
            return redirect("grading-setup", code=course.code)
    return render(request, "grading/confirm_delete.html", {
        "course": course, "role": Role.INSTRUCTOR, "what": what, "errors": errors, "back": back, "back_id": back_id,
    })


@login_required
def category_delete(request: SignedInHttpRequest, code: str, category_id: int) -> HttpResponse:
    """Ask, then delete an empty category (POST)."""
    course = access.access_setup(request.user, code)
    category = access.access_category(request.user, code, category_id, for_setup=True)
    return _confirm_delete(
        request, course=course, delete=lambda: services.category_delete(category=category, by=request.user),
        what=f"the category {category.name}", done=f"Category {category.name} deleted.",
        back="grading-category-edit", back_id=category.pk,
    )


@login_required
def item_edit(request: SignedInHttpRequest, code: str, item_id: int | None = None) -> HttpResponse:
    """Add (no id) or edit a grade item. ?category=<id> preselects the category of a new item."""
    course = access.access_setup(request.user, code)
    item = access.access_item_for_setup(request.user, code, item_id) if item_id else None
    if request.method == "POST":
        form = forms.ItemForm(request.POST, course=course)
        if form.is_valid():
            values = dict(form.cleaned_data)
            reason = request.POST.get("reason", "").strip()
            try:
                if item is None:
                    item = services.item_create(course=course, by=request.user, **values)
                    messages.success(request, f"{item.name} added.")
                else:
                    services.item_update(item=item, by=request.user, reason=reason, **values)
                    messages.success(request, f"{item.name} saved.")
                return redirect("grading-setup", code=code)
            except ValidationError as exc:
                _form_errors(form, exc)
    else:
        if item is not None:
            initial = {f: getattr(item, f) for f in services.ITEM_FIELDS}
            initial["due_at"] = forms.local_due(item.due_at, time_zone=course.time_zone)
        else:
            initial = {"category": request.GET.get("category"), "late_penalty_percent": "0",
                       "late_penalty_floor_percent": "0"}
        form = forms.ItemForm(initial=initial, course=course)
    return render(request, "grading/item_form.html", {
        "course": course, "role": Role.INSTRUCTOR, "form": form, "item": item,
    })


@login_required
def item_delete(request: SignedInHttpRequest, code: str, item_id: int) -> HttpResponse:
    """Ask, then delete an item that has no grades (POST). Items with grades are refused."""
    course = access.access_setup(request.user, code)
    item = access.access_item_for_setup(request.user, code, item_id)
    return _confirm_delete(
        request, course=course, delete=lambda: services.item_delete(item=item, by=request.user),
        what=f"the item {item.name}", done=f"{item.name} deleted.", back="grading-item-edit", back_id=item.pk,
    )


@login_required
def options_edit(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Instructor: the gradebook-wide options (weighting, missing-work policy, letters released), with their history."""
    course = access.access_setup(request.user, code)
    current = options.gradebook_options(course=course)
    if request.method == "POST":
        form = forms.OptionsForm(request.POST)
        if form.is_valid():
            values = dict(form.cleaned_data)
            reason = values.pop("reason", "")
            try:
                options.gradebook_options_update(course=course, by=request.user, reason=reason, **values)
                messages.success(request, "Gradebook options saved.")
                return redirect("grading-setup", code=code)
            except ValidationError as exc:
                _form_errors(form, exc)
    else:
        form = forms.OptionsForm(initial={
            "weighting": current.weighting, "letters_released": current.letters_released,
            "missing_percent": "" if current.missing_percent is None else current.missing_percent,
        })
    return render(request, "grading/options_form.html", {
        "course": course, "role": Role.INSTRUCTOR, "form": form, "history": options.options_history(course=course),
    })
