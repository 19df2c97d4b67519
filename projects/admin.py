"""Admin for the instructor: projects, parts, rubric criteria and read-only run records."""

from django import forms
from django.contrib import admin

from .models import (
    Dataset,
    GradingRun,
    HarnessBundle,
    HarnessEnvironment,
    Project,
    ProjectPart,
    RubricCriterion,
    Submission,
    Team,
    TeamMembership,
)

PART_FIELDS = ("slug", "name", "position", "grade_item", "mode", "autograde_points", "closes_at", "results_published")
MEMBER_FIELDS = ("user", "joined_at", "left_at", "added_by", "removed_by")


class PartInlineForm(forms.ModelForm):
    """A part added inline belongs to the project's course; its slug is unique in that course.

    ``course`` is not on the form, so Django would skip the (course, slug) constraint during
    validation and the database would raise instead: the form checks it with a message.
    """

    class Meta:
        model = ProjectPart
        fields = PART_FIELDS

    def __init__(self, *args, parent: Project | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if parent is not None and parent.pk is not None:
            self.instance.project = parent
            self.instance.course_id = parent.course_id

    def clean_slug(self) -> str:
        slug = self.cleaned_data["slug"]
        course_id = self.instance.course_id
        if course_id is not None:
            taken = ProjectPart.objects.filter(course_id=course_id, slug=slug).exclude(pk=self.instance.pk)
            if taken.exists():
                raise forms.ValidationError(f"Another part of this course already uses the URL name {slug}: choose another.")
        return slug


class PartInlineFormSet(forms.BaseInlineFormSet):
    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "parent": self.instance}


class PartInline(admin.TabularInline):
    model = ProjectPart
    form = PartInlineForm
    formset = PartInlineFormSet
    extra = 0
    fields = PART_FIELDS


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["name", "course", "team_size", "counting", "daily_submission_limit", "teams_locked"]
    inlines = [PartInline]

    def get_inlines(self, request, obj):
        # A part needs the project's course, which a project being added does not have yet.
        return self.inlines if obj is not None else []


class CriterionInline(admin.TabularInline):
    model = RubricCriterion
    extra = 1


@admin.register(ProjectPart)
class ProjectPartAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "mode", "harness", "results_published"]
    inlines = [CriterionInline]
    raw_id_fields = ["harness"]


@admin.register(HarnessBundle)
class HarnessBundleAdmin(admin.ModelAdmin):
    list_display = ["name", "label", "part", "sha256", "gpus", "uploaded_at"]
    readonly_fields = [f.name for f in HarnessBundle._meta.fields]


class MembershipInline(admin.TabularInline):
    model = TeamMembership
    extra = 0
    fields = MEMBER_FIELDS
    readonly_fields = MEMBER_FIELDS


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "join_code"]
    inlines = [MembershipInline]


@admin.register(Submission)
class SubmissionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "submitter", "submitted_at", "size_bytes"]
    list_filter = ["part"]
    readonly_fields = [f.name for f in Submission._meta.fields]


@admin.register(GradingRun)
class GradingRunAdmin(admin.ModelAdmin):
    list_display = ["pk", "submission", "status", "queue", "attempts", "queued_at", "finished_at", "score"]
    list_filter = ["status", "queue"]
    readonly_fields = [f.name for f in GradingRun._meta.fields]


@admin.register(HarnessEnvironment)
class HarnessEnvironmentAdmin(admin.ModelAdmin):
    """Read-only: the workers report these (manage.py harness_env rebuilds)."""

    list_display = ["bundle", "node", "index", "state", "size_bytes", "build_s", "started_at"]
    list_filter = ["state", "index"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    """Read-only: register versions with manage.py dataset_add or the upload API."""

    list_display = ["name", "version", "course", "file_count", "size_bytes", "uploaded_at"]
    list_filter = ["course"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
