"""The gradebook API's payloads, described for the OpenAPI schema.

Most response payloads are built in apis.py from the engine's results
(presenters.student_report, presenters.statistics_table, the import plan); the
serializers below document them, and tests/test_api_schema.py validates real
responses of every role against the schema served at /api/schema/, refusing
undocumented keys, so the two cannot drift apart. The set-up request bodies are
checked by the services (which say what to fix, per field); their serializers
here only document them.

Conventions: points and percentages are decimal strings ("7.50", "84.33"); a
percentage is rounded half up to hundredths; null means "no number" (missing,
excused, nothing counted yet). Times are ISO 8601 with an offset.
"""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import ResolvedComponent
from rest_framework import serializers

from .models import (
    ITEM_LATE_BASE_CHOICES,
    Aggregation,
    Category,
    GradeItem,
    GradeState,
    LateBase,
    LateUnit,
    Weighting,
)

# Ids are BigAutoField: a larger number cannot be looked up (a 400, not a database error).
ID_MAX = 2**63 - 1


class NamedChoiceField(serializers.ChoiceField):
    """A ChoiceField documented as the enum component `enum_name`.

    drf-spectacular names enums after field names and warns when one name ("state")
    carries several value sets across the API (quizzes' attempt states, our grade states)
    or one value set several names (old_state, new_state). Naming the component here keeps
    each grading value set under one stable name without a project-wide setting.
    """

    def __init__(self, *, enum_name: str, **kwargs):
        self.enum_name = enum_name
        super().__init__(**kwargs)


class NamedChoiceFieldExtension(OpenApiSerializerFieldExtension):
    target_class = NamedChoiceField
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        field = self.target
        component = ResolvedComponent(
            name=field.enum_name, type=ResolvedComponent.SCHEMA, object=field.enum_name,
            schema={"type": "string", "enum": list(field.choices)},
        )
        auto_schema.registry.register_on_missing(component)
        return component.ref


def _points(help_text: str = "Points, at most two decimals", **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=8, decimal_places=2, help_text=help_text, **kwargs)


def _percent(help_text: str, **kwargs) -> serializers.DecimalField:
    """A percentage rounded half up to hundredths; above 100 with extra credit."""
    return serializers.DecimalField(max_digits=12, decimal_places=2, help_text=help_text, **kwargs)


def _grade_state(**kwargs) -> NamedChoiceField:
    return NamedChoiceField(enum_name="GradeStateEnum", choices=GradeState.values,
                            help_text="graded: has points; excused: out of numerator and denominator", **kwargs)


def _cell_state(**kwargs) -> NamedChoiceField:
    return NamedChoiceField(enum_name="GradeCellStateEnum", choices=[*GradeState.values, "missing"],
                            help_text="graded, excused, or missing (no grade yet)", **kwargs)


def _history_state(help_text: str) -> NamedChoiceField:
    return NamedChoiceField(enum_name="GradeHistoryStateEnum", choices=[*GradeState.values, ""],
                            help_text=help_text)


def _category_late_base(**kwargs) -> NamedChoiceField:
    return NamedChoiceField(enum_name="LatePenaltyBaseEnum", choices=LateBase.values,
                            help_text="What its items' late penalties and floors are a percent of: score (of the "
                                      "student's score, the default) or possible (of points possible, as Canvas)",
                            **kwargs)


def _item_late_base(**kwargs) -> NamedChoiceField:
    return NamedChoiceField(enum_name="ItemLatePenaltyBaseEnum", choices=[c[0] for c in ITEM_LATE_BASE_CHOICES],
                            allow_blank=True,
                            help_text="What the late penalty and its floor are a percent of: score, possible (points "
                                      "possible), or empty: as its category", **kwargs)


# Errors: problem details, documented by courseapp.api_errors.ProblemSerializer.


# --- categories and items ---------------------------------------------------------------------------


class GradeCategorySerializer(serializers.ModelSerializer):
    late_penalty_base = _category_late_base()

    class Meta:
        model = Category
        fields = ["id", "name", "weight", "aggregation", "drop_lowest", "drop_highest", "position", "description",
                  "late_penalty_base"]


class GradeCategoryChangedSerializer(GradeCategorySerializer):
    """A category just created or changed, with what the instructor should know about the weights."""

    weight_warning = serializers.CharField(allow_null=True, help_text="null when the weights add up to 100")

    class Meta(GradeCategorySerializer.Meta):
        fields = [*GradeCategorySerializer.Meta.fields, "weight_warning"]


class GradeCategoryListSerializer(serializers.Serializer):
    categories = GradeCategorySerializer(many=True)
    weight_warning = serializers.CharField(allow_null=True, help_text="null when the weights add up to 100")


class GradeCategoryInputSerializer(serializers.Serializer):
    """A category's settings (checked by services.category_create / category_update)."""

    name = serializers.CharField(max_length=100, help_text="Unique in the course")
    weight = serializers.DecimalField(max_digits=6, decimal_places=3, min_value=0, max_value=100,
                                      help_text="Percent of the course total, 0–100, up to 3 decimals")
    aggregation = serializers.ChoiceField(choices=Aggregation.choices, required=False,
                                          help_text="Default total_points")
    drop_lowest = serializers.IntegerField(min_value=0, max_value=100, required=False,
                                           help_text="How many items to drop (best choice for the student)")
    drop_highest = serializers.IntegerField(min_value=0, max_value=100, required=False)
    position = serializers.IntegerField(min_value=0, max_value=32767, allow_null=True, required=False,
                                        help_text="null or absent: after the others")
    description = serializers.CharField(max_length=200, allow_blank=True, required=False)
    late_penalty_base = _category_late_base(required=False)


class GradeCategoryChangeSerializer(GradeCategoryInputSerializer):
    reason = serializers.CharField(allow_blank=True, required=False,
                                   help_text="For the history of grades a new late penalty base changes")


class GradeItemSerializer(serializers.ModelSerializer):
    late_penalty_base = _item_late_base()

    class Meta:
        model = GradeItem
        fields = ["id", "name", "short_name", "category", "points_possible", "weight", "due_at", "extra_credit",
                  "never_drop", "released", "ta_editable", "late_penalty_percent", "late_penalty_unit",
                  "late_penalty_floor_percent", "late_penalty_base"]


class GradeItemSetupSerializer(GradeItemSerializer):
    class Meta(GradeItemSerializer.Meta):
        fields = [*GradeItemSerializer.Meta.fields, "position"]


class GradeItemInputSerializer(serializers.Serializer):
    """An item's settings (checked by services.item_create / item_update)."""

    name = serializers.CharField(max_length=120, help_text="Unique in the course (also against short names)")
    short_name = serializers.CharField(max_length=30, allow_blank=True, required=False,
                                       help_text="The grid's column header; imports find columns by it too")
    category = serializers.IntegerField(help_text="Id of one of the course's categories")
    points_possible = _points("More than 0 (0 only for extra credit)")
    weight = serializers.DecimalField(max_digits=8, decimal_places=3, allow_null=True, required=False,
                                      help_text="Weight within the category; null = 1")
    due_at = serializers.CharField(allow_null=True, allow_blank=True, required=False,
                                   help_text="ISO 8601; without an offset it is course time (Europe/Istanbul); "
                                             "null or empty: no due date")
    extra_credit = serializers.BooleanField(required=False)
    never_drop = serializers.BooleanField(required=False)
    released = serializers.BooleanField(required=False, help_text="Students see its grades")
    ta_editable = serializers.BooleanField(required=False, help_text="TAs may enter its grades")
    late_penalty_percent = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100,
                                                    required=False, help_text="Percent of the base off per started "
                                                                              "unit")
    late_penalty_unit = serializers.ChoiceField(choices=LateUnit.choices, required=False)
    late_penalty_floor_percent = serializers.DecimalField(
        max_digits=5, decimal_places=2, min_value=0, max_value=100, required=False,
        help_text="The penalty never takes a score below this percent of the same base (the score, or points "
                  "possible)")
    late_penalty_base = _item_late_base(required=False)
    position = serializers.IntegerField(min_value=0, max_value=32767, allow_null=True, required=False,
                                        help_text="null or absent: last in its category")


class GradeItemChangeSerializer(GradeItemInputSerializer):
    reason = serializers.CharField(allow_blank=True, required=False,
                                   help_text="For the history of grades a new due date or late policy changes")


class GradeReleaseInputSerializer(serializers.Serializer):
    released = serializers.BooleanField(help_text="true: students see the item's grades; false: hidden")


class GradeReleaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    released = serializers.BooleanField()


# --- grades -----------------------------------------------------------------------------------------


class GradeRowSerializer(serializers.Serializer):
    """A stored grade. No row for a student and item means missing."""

    student = serializers.IntegerField()
    item = serializers.IntegerField()
    state = _grade_state()
    raw_points = _points("Before any late penalty; null when excused", allow_null=True)
    late_penalty_points = _points("Taken off for lateness")
    points = _points("Counted points (raw minus late penalty); null when excused", allow_null=True)
    comment = serializers.CharField(allow_blank=True)


class GradeSetInputSerializer(serializers.Serializer):
    """Manual entry of one grade (validated here, then by services.grade_set)."""

    item = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    student = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    points = serializers.CharField(allow_null=True, allow_blank=True, required=False,
                                   help_text="Counted points like 7.5 (a comma works too); null or empty clears the "
                                             "grade (missing)")
    state = _grade_state(default=GradeState.GRADED)
    comment = serializers.CharField(allow_blank=True, required=False, allow_null=True, default=None,
                                    help_text="null or absent: leave the comment as it is; empty: clear it")
    reason = serializers.CharField(allow_blank=True, required=False, default="", help_text="Kept in the history")


class GradeSetResultSerializer(serializers.Serializer):
    """The grade as stored, with the student's new totals and letter."""

    item = serializers.IntegerField()
    student = serializers.IntegerField()
    state = _grade_state()
    points = _points(allow_null=True, help_text="null: excused or cleared")
    text = serializers.CharField(allow_blank=True, help_text="As the grid shows it: 7.5, EX, or empty")
    comment = serializers.CharField(allow_blank=True)
    current = _percent("Current total (graded work only); null: nothing counted yet", allow_null=True)
    final = _percent("Final total (missing work past due counts 0); null: nothing counted yet", allow_null=True)
    letter = serializers.CharField(allow_blank=True, help_text="From the final total, or the override; empty: no total")


class GradeHistoryEntrySerializer(serializers.Serializer):
    """One change of one grade, newest first."""

    changed_at = serializers.DateTimeField()
    changed_by = serializers.CharField(help_text="The person's name, or \"system\"")
    old_state = _history_state("Empty: there was no grade before")
    new_state = _grade_state()
    old_points = _points(allow_null=True)
    new_points = _points("null: excused, or cleared (missing again)", allow_null=True)
    late_penalty_points = _points("The late penalty included in new_points")
    old_comment = serializers.CharField(allow_blank=True)
    new_comment = serializers.CharField(allow_blank=True)
    # The API's key: SerializerMetaclass takes declared fields off the class, so Field.source is not shadowed.
    source = serializers.CharField(help_text="manual, import, quiz, autograder, late policy, …")  # type: ignore[assignment]
    reason = serializers.CharField(allow_blank=True)


# --- reports (summary, what-if) ------------------------------------------------------------------------


class GradeReportItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    points_possible = _points()
    due_at = serializers.DateTimeField(allow_null=True)
    extra_credit = serializers.BooleanField()
    state = _cell_state()
    points = _points("Counted points; null unless graded", allow_null=True)
    raw_points = _points("Stored points before the late penalty (what-if: the stored ones)", allow_null=True)
    late_penalty = _points("Points taken off for lateness; null: none", allow_null=True)
    late_policy = serializers.CharField(allow_blank=True, help_text="The item's late policy in words, with its "
                                                                    "floor; empty: none")
    comment = serializers.CharField(allow_blank=True)
    dropped = serializers.BooleanField(help_text="Left out by the category's drop rule")
    dropped_why = serializers.CharField(allow_blank=True, help_text="The note, for dropped rows; empty otherwise")
    note = serializers.CharField(allow_blank=True, help_text="One line on why the row counts as it does (excused, "
                                                             "missing, dropped); empty for plain graded work")


class GradeReportCategorySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    weight = serializers.DecimalField(max_digits=6, decimal_places=3, help_text="Percent of the course total")
    aggregation = serializers.ChoiceField(choices=Aggregation.choices)
    drop_lowest = serializers.IntegerField()
    drop_highest = serializers.IntegerField()
    drop_rule = serializers.CharField(allow_blank=True, help_text="The drop rule explained once; empty: none")
    current = _percent("Graded work only; null: nothing graded", allow_null=True)
    final = _percent("Missing work past due counts 0; null: nothing counted", allow_null=True)
    items = GradeReportItemSerializer(many=True)


class GradeNotCountedSerializer(serializers.Serializer):
    name = serializers.CharField()
    why = serializers.CharField(help_text="not released yet, or not graded yet")


class GradeReportSerializer(serializers.Serializer):
    """One student's grades as "My grades" shows them (students: released items only)."""

    student_id = serializers.IntegerField()
    categories = GradeReportCategorySerializer(many=True)
    current = _percent("Current course total; null: nothing counted yet", allow_null=True)
    final = _percent("Final course total; null: nothing counted yet", allow_null=True)
    provisional = serializers.BooleanField(help_text="Some items are not counted yet (see not_counted)")
    not_counted = GradeNotCountedSerializer(many=True, help_text="Items hidden from the student or not graded yet")
    letters_released = serializers.BooleanField(help_text="The instructor released letters to students")
    letter = serializers.CharField(
        allow_blank=True, help_text="Staff: from the final total, or the override. Students: empty until letters are "
                                    "released, then the letter of the whole gradebook (as the grid shows it)")
    letter_overridden = serializers.BooleanField()
    letter_note = serializers.CharField(help_text="Where the letter comes from, or why there is none")
    current_letter = serializers.CharField(allow_blank=True, help_text="The letter the current total would earn "
                                                                       "(students: empty until letters are released)")
    points_mode = serializers.BooleanField(help_text="Every category weighs 0%: the course counts by points")
    weighting = serializers.CharField(help_text="How category weights combine, in words")
    missing_policy = serializers.CharField(allow_blank=True, help_text="The missing-work policy in words; empty: off")


class GradeWhatIfInputSerializer(serializers.Serializer):
    grades = serializers.DictField(
        child=serializers.CharField(allow_null=True, allow_blank=True), required=False,
        help_text="Item id → points (\"8.5\"), \"EX\" to excuse, or null/empty for no grade; released items only")
    student = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX,
                                       help_text="Staff: the student's id (students: themselves)")


# --- statistics ---------------------------------------------------------------------------------------


class GradeStatisticsRowSerializer(serializers.Serializer):
    """Per item (points), and a last row for the final course total (percent, id null)."""

    id = serializers.IntegerField(allow_null=True, help_text="Item id; null for the course total")
    name = serializers.CharField()
    points_possible = _points()
    count = serializers.IntegerField(help_text="Students with a number (= graded)")
    mean = _points(allow_null=True)
    median = _points(allow_null=True)
    std = _points("Sample standard deviation", allow_null=True)
    min = _points(allow_null=True)
    max = _points(allow_null=True)
    graded = serializers.IntegerField()
    excused = serializers.IntegerField(allow_null=True, help_text="null for the course total")
    missing = serializers.IntegerField(help_text="No grade (course total: no total yet)")


# --- import -------------------------------------------------------------------------------------------


class GradeImportFileSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV: a Student number (or ID number) column and one column per item")


class GradeImportTextSerializer(serializers.Serializer):
    csv = serializers.CharField(help_text="The CSV text")


class GradeImportChangeSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="Line of the file (the header is line 1)")
    student_number = serializers.CharField()
    student = serializers.CharField(help_text="The student's name")
    item = serializers.CharField(help_text="The item's name")
    old = serializers.CharField(allow_blank=True, help_text="7.5, EX, or empty (missing)")
    new = serializers.CharField(help_text="7.5 or EX")


class GradeImportPlanSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="false: nothing can be applied; see errors")
    # The API's key: SerializerMetaclass takes declared fields off the class, so Serializer.errors is not shadowed.
    errors = serializers.ListField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text="Each bad line, with what to fix")
    items = serializers.ListField(child=serializers.CharField(), help_text="The items the file's columns matched")
    unchanged = serializers.IntegerField(help_text="Cells equal to the stored grade")
    changes = GradeImportChangeSerializer(many=True)




# --- letters ------------------------------------------------------------------------------------------


class GradeLetterOverrideInputSerializer(serializers.Serializer):
    student = serializers.IntegerField(min_value=1, max_value=ID_MAX)
    letter = serializers.CharField(allow_blank=True, required=False,
                                   help_text="A letter of the course's scale; empty clears the override")
    reason = serializers.CharField(help_text="Required; kept with the history")


class GradeLetterOverrideSerializer(serializers.Serializer):
    student = serializers.IntegerField()
    letter = serializers.CharField(allow_blank=True, help_text="Empty: cleared (the computed letter counts)")
    reason = serializers.CharField()


# --- gradebook options ----------------------------------------------------------------------------------


class GradeOptionsSerializer(serializers.Serializer):
    """The course's gradebook-wide options, with the weighting in force in words."""

    weighting = NamedChoiceField(enum_name="GradeWeightingEnum", choices=Weighting.values,
                                 help_text="normalised: weights count in proportion to their sum; absolute: percent of "
                                           "the course as given (totals may pass 100%)")
    missing_percent = _percent("Missing work past its due date counts as this percent of its points; null: off",
                               allow_null=True)
    letters_released = serializers.BooleanField(help_text="Students see their letter")
    weighting_text = serializers.CharField(help_text="The weighting in force, in words (as the set-up page says)")
    missing_text = serializers.CharField(allow_blank=True, help_text="The missing-work policy in words; empty: off")
    weight_warning = serializers.CharField(allow_null=True, help_text="null when the weights add up to 100")


class GradeOptionsInputSerializer(serializers.Serializer):
    """Some of the options (checked by options.gradebook_options_update)."""

    weighting = NamedChoiceField(enum_name="GradeWeightingEnum", choices=Weighting.values, required=False)
    missing_percent = serializers.DecimalField(max_digits=5, decimal_places=2, min_value=0, max_value=100,
                                               allow_null=True, required=False,
                                               help_text="0–100, at most two decimals; null turns the policy off")
    letters_released = serializers.BooleanField(required=False)
    reason = serializers.CharField(allow_blank=True, required=False, help_text="Kept in the options' history")
