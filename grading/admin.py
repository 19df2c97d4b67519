"""The Django admin for the gradebook, for superusers repairing or inspecting data.

Categories and items are edited through the same services as the set-up pages (same rules,
same messages, late policies re-applied). Grades, their history, letter cut-offs and
overrides are read-only here: grades change through grade_set (the gradebook) so that every
change leaves a history row, and a letter scale is checked as a whole on the letters page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.html import format_html, format_html_join

from courseapp.models import User
from courseapp.request_types import SignedInHttpRequest

from . import services
from .calculations import fmt_points
from .models import (
    Category,
    Grade,
    GradebookOptions,
    GradebookOptionsChange,
    GradeChange,
    GradeItem,
    LetterCutoff,
    LetterOverride,
)


class _DryRun(Exception):
    """Raised inside a savepoint to roll back a service call made only to validate."""


def _run_service(call) -> None:
    """Run a service call, turning a refusal into form errors."""
    try:
        call()
    except PermissionDenied as exc:
        raise ValidationError(f"{exc} Ask the course's instructor, or sign in as a superuser.") from None


def _validate_with(call) -> None:
    """Run `call` (a service) in a savepoint and roll it back: the form shows the service's own
    messages, and the real save (save_model) runs the same call again."""
    try:
        with transaction.atomic():
            _run_service(call)
            raise _DryRun
    except _DryRun:
        pass


class _ServiceForm(forms.ModelForm):
    """A ModelForm whose clean() asks the service (create or update) whether the values are acceptable."""

    fields_of_service: tuple[str, ...] = ()
    request: SignedInHttpRequest | None = None  # set by _ServiceAdmin.get_form: the admin's signed-in request

    def by(self) -> User:
        """Who saves the form: the admin's user."""
        assert self.request is not None  # _ServiceAdmin.get_form sets it on every form class it hands out
        return self.request.user

    # Each form's create-or-update through its service (CategoryForm, ItemForm define it); clean() calls it.
    call_service: Callable[[], object]

    def values(self) -> dict:
        return {f: self.cleaned_data.get(f) for f in self.fields_of_service if f in self.cleaned_data}

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            _validate_with(lambda: self.call_service())
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                for name, messages in exc.message_dict.items():
                    self.add_error(name if name in self.fields else None, messages)
            else:
                raise
        return data


class CategoryForm(_ServiceForm):
    fields_of_service = services.CATEGORY_FIELDS

    class Meta:
        model = Category
        fields = ["course", *services.CATEGORY_FIELDS]

    def call_service(self):
        if self.instance.pk:
            return services.category_update(category=Category.objects.get(pk=self.instance.pk), by=self.by(),
                                            **self.values())
        return services.category_create(course=self.cleaned_data["course"], by=self.by(), **self.values())


class ItemForm(_ServiceForm):
    fields_of_service = services.ITEM_FIELDS

    class Meta:
        model = GradeItem
        fields = ["course", *services.ITEM_FIELDS]

    def call_service(self):
        if self.instance.pk:
            return services.item_update(item=GradeItem.objects.get(pk=self.instance.pk), by=self.by(),
                                        reason="changed in the admin", **self.values())
        return services.item_create(course=self.cleaned_data["course"], by=self.by(), **self.values())


class _ServiceAdmin(admin.ModelAdmin):
    """Saves and deletes through the services; no bulk delete (it would bypass them)."""

    def get_form(self, request, obj=None, change=False, **kwargs):
        # every _ServiceAdmin's form is a _ServiceForm (CategoryForm, ItemForm); modelform_factory subclasses it
        form = cast(type[_ServiceForm], super().get_form(request, obj, change=change, **kwargs))
        form.request = request  # a new form class per request (modelform_factory): the service's `by`
        return form

    def get_readonly_fields(self, request, obj=None):
        return ("course",) if obj is not None else ()

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            saved = form.call_service()
        obj.pk = saved.pk


@admin.register(Category)
class CategoryAdmin(_ServiceAdmin):
    form = CategoryForm
    list_display = ("name", "course", "weight", "aggregation", "drop_lowest", "drop_highest", "position")
    list_filter = ("course",)
    list_select_related = ("course",)
    search_fields = ("name",)

    def has_delete_permission(self, request, obj=None):
        return super().has_delete_permission(request, obj) and (obj is None or not obj.items.exists())

    def delete_model(self, request, obj):
        services.category_delete(category=obj, by=request.user)


@admin.register(GradeItem)
class GradeItemAdmin(_ServiceAdmin):
    form = ItemForm
    list_display = ("name", "course", "category", "points_possible", "due_at", "released", "ta_editable",
                    "extra_credit", "never_drop")
    list_filter = ("course", "category", "released", "ta_editable", "extra_credit")
    list_select_related = ("course", "category")
    search_fields = ("name", "short_name")

    def has_delete_permission(self, request, obj=None):
        """Items with grades or history are never deleted (excuse or hide them instead)."""
        if obj is not None and (obj.grades.exists() or obj.changes.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        try:
            services.item_delete(item=obj, by=request.user)
        except ValidationError as exc:  # e.g. linked to a quiz, or its category's drop rule
            self.message_user(request, " ".join(exc.messages), level=messages.ERROR)


class ReadOnlyAdmin(admin.ModelAdmin):
    """View only: these rows change through the gradebook's services, which keep history."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _points(value) -> str:
    return "" if value is None else fmt_points(value)


@admin.register(Grade)
class GradeAdmin(ReadOnlyAdmin):
    list_display = ("student", "item", "state", "points", "raw_points", "late_penalty_points", "source",
                    "updated_at", "updated_by")
    list_filter = ("item__course", "state", "source", "item")
    list_select_related = ("student", "item", "updated_by")
    search_fields = ("student__username", "student__student_number", "student__last_name", "item__name")
    fields = ("item", "student", "state", "raw_points", "late_penalty_points", "points", "submitted_at", "source",
              "comment", "updated_at", "updated_by", "history")
    readonly_fields = ("history",)

    @admin.display(description="History (newest first)")
    def history(self, grade: Grade) -> str:
        changes = GradeChange.objects.filter(item_id=grade.item_id, student_id=grade.student_id).select_related(
            "changed_by")
        rows = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{} → {}</td><td>{}</td><td>{}</td></tr>", (
            (c.changed_at.strftime("%Y-%m-%d %H:%M"), c.changed_by or "system",
             _points(c.old_points) or c.old_state or "–", _points(c.new_points) or c.new_state or "–",
             c.source, c.reason) for c in changes))
        return format_html("<table><thead><tr><th>When</th><th>Who</th><th>Change</th><th>Source</th><th>Why</th>"
                           "</tr></thead><tbody>{}</tbody></table>", rows)


@admin.register(GradeChange)
class GradeChangeAdmin(ReadOnlyAdmin):
    list_display = ("changed_at", "item", "student", "old_points", "new_points", "old_state", "new_state", "source",
                    "changed_by", "reason")
    list_filter = ("item__course", "source", "item")
    list_select_related = ("item", "student", "changed_by")
    search_fields = ("student__username", "student__student_number", "item__name", "reason")
    date_hierarchy = "changed_at"


@admin.register(LetterCutoff)
class LetterCutoffAdmin(ReadOnlyAdmin):
    """Edit the scale on the course's letters page (Gradebook → Letters), which checks it as a whole."""

    list_display = ("course", "letter", "min_percent", "grade_point")
    list_filter = ("course",)


@admin.register(LetterOverride)
class LetterOverrideAdmin(ReadOnlyAdmin):
    """Append-only: the newest row per student is in force; set or clear overrides on the letters page."""

    list_display = ("created_at", "course", "student", "letter", "reason", "created_by")
    list_filter = ("course", "letter")
    list_select_related = ("course", "student", "created_by")
    search_fields = ("student__username", "student__student_number", "reason")


@admin.register(GradebookOptions)
class GradebookOptionsAdmin(ReadOnlyAdmin):
    """Change the options on the course's "Gradebook options" page (set-up), which keeps their history."""

    list_display = ("course", "weighting", "missing_percent", "letters_released", "updated_at")
    list_select_related = ("course",)


@admin.register(GradebookOptionsChange)
class GradebookOptionsChangeAdmin(ReadOnlyAdmin):
    list_display = ("changed_at", "course", "setting", "old_value", "new_value", "changed_by", "reason")
    list_filter = ("course", "setting")
    list_select_related = ("course", "changed_by")
