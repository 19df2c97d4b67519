"""API representations of courses, lectures, enrollments and roster imports. No rules here."""

from __future__ import annotations

from typing import cast

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import ApiToken, Course, Lecture, Membership, Role, SessionKind


class CourseSerializer(serializers.ModelSerializer):
    my_role = serializers.SerializerMethodField(help_text="instructor, ta or student (admins: instructor)")

    class Meta:
        model = Course
        fields = ["code", "number", "title", "term", "my_role"]

    def get_my_role(self, course: Course) -> str:
        return self.context["roles"].get(course.pk, Role.INSTRUCTOR)


class StaffSerializer(serializers.Serializer):
    name = serializers.CharField(source="user.get_full_name")
    email = serializers.EmailField(source="user.email")
    role = serializers.CharField()
    office_hours = serializers.CharField()


class GradingCategorySerializer(serializers.Serializer):
    name = serializers.CharField()
    weight = serializers.DecimalField(max_digits=6, decimal_places=3, help_text="Percent of the course total")
    description = serializers.CharField()


@extend_schema_field({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d:[0-5]\d$", "example": "09:40:00",
                      "description": "Wall-clock time in the course's time_zone (HH:MM:SS, no offset)"})
class WallTimeField(serializers.TimeField):
    """A time of day without an offset. OpenAPI's `format: time` is RFC 3339's, which requires one
    ("09:40:00+03:00"); the course's lecture times are local to its time_zone, so they are documented
    as a pattern instead of a format they do not meet."""


class CourseDetailSerializer(serializers.ModelSerializer):
    """Needs context {"role": str, "syllabus": selectors.Syllabus}."""

    my_role = serializers.SerializerMethodField()
    staff = serializers.SerializerMethodField()
    textbooks = serializers.SerializerMethodField()
    grading = serializers.SerializerMethodField()
    lecture_weekday = serializers.IntegerField(help_text="0 = Monday … 6 = Sunday")
    lecture_start = WallTimeField()
    lecture_end = WallTimeField()

    class Meta:
        model = Course
        fields = [
            "code", "number", "title", "term", "department", "university", "description",
            "credits_theoretical", "credits_laboratory", "ects", "website", "mailing_list",
            "lecture_weekday", "lecture_start", "lecture_end", "lecture_room", "time_zone",
            "my_role", "staff", "textbooks", "grading",
        ]

    def get_my_role(self, course: Course) -> str:
        return self.context["role"]

    @extend_schema_field(StaffSerializer(many=True))
    def get_staff(self, course: Course) -> list[dict]:
        # many=True builds a ListSerializer, whose .data is a list; the stubs type the call as the child serializer
        return cast(list[dict], StaffSerializer(self.context["syllabus"].staff, many=True).data)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_textbooks(self, course: Course) -> list[str]:
        return [book.citation for book in self.context["syllabus"].textbooks]

    @extend_schema_field(GradingCategorySerializer(many=True))
    def get_grading(self, course: Course) -> list[dict]:
        # many=True builds a ListSerializer, whose .data is a list; the stubs type the call as the child serializer
        return cast(list[dict], GradingCategorySerializer(self.context["syllabus"].grading, many=True).data)


class LectureSerializer(serializers.ModelSerializer):
    subtopics = serializers.ListField(child=serializers.CharField())
    kind = serializers.ChoiceField(choices=SessionKind.choices, help_text="A weekly lecture, an extra session or an exam")
    cancelled = serializers.BooleanField(help_text="Cancelled sessions stay listed; `note` says why")
    note = serializers.CharField(allow_blank=True, help_text="Why it was moved or cancelled; empty: nothing to say")

    class Meta:
        model = Lecture
        fields = ["week", "kind", "starts_at", "ends_at", "room", "topic", "subtopics", "cancelled", "note"]


class EnrollmentSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username")
    student_number = serializers.CharField(source="user.student_number", allow_null=True)
    first_name = serializers.CharField(source="user.first_name")
    last_name = serializers.CharField(source="user.last_name")
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["username", "student_number", "first_name", "last_name", "email", "role", "office_hours",
                  "created_at"]


class RosterUploadSerializer(serializers.Serializer):
    """The CSV as a multipart `file`, or as `csv` text in a JSON body."""

    file = serializers.FileField(required=False)
    csv = serializers.CharField(required=False, trim_whitespace=False)

    def validate(self, attrs: dict) -> dict:
        if not attrs.get("file") and not attrs.get("csv"):
            raise serializers.ValidationError("Send the roster as a multipart 'file' or as 'csv' text.")
        return attrs


class RosterRowSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    student_number = serializers.CharField()
    username = serializers.CharField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    email = serializers.EmailField()
    action = serializers.ChoiceField(choices=["create", "enroll", "update", "unchanged"])
    changes = serializers.ListField(child=serializers.CharField())


class RosterErrorSerializer(serializers.Serializer):
    line = serializers.IntegerField(allow_null=True, help_text="1-based; the header is line 1; null: whole file")
    message = serializers.CharField()


class RosterPreviewSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="True when there are rows and no errors: apply would succeed")
    counts = serializers.DictField(child=serializers.IntegerField())
    rows = RosterRowSerializer(many=True)
    # The API's key: SerializerMetaclass takes declared fields off the class, so Serializer.errors is not shadowed.
    errors = RosterErrorSerializer(many=True)  # type: ignore[assignment]


class RosterResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    enrolled = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class TokenObtainSerializer(serializers.Serializer):
    """POST /api/auth/token/: who is asking, and what to call the new token."""

    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)
    name = serializers.CharField(required=False, max_length=100,
                                 help_text='What the token is for, e.g. "laptop"; default "terminal <date time>"')


class ApiTokenSerializer(serializers.ModelSerializer):
    """A token as its owner sees it: never the key (nobody can read it back)."""

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]


class ApiTokenCreatedSerializer(ApiTokenSerializer):
    """The answer to making a token: the key, shown this once."""

    token = serializers.SerializerMethodField(help_text="The key for `Authorization: Token <token>`; shown once")

    class Meta(ApiTokenSerializer.Meta):
        fields = ["token", *ApiTokenSerializer.Meta.fields]

    def get_token(self, obj: ApiToken) -> str:
        return self.context["key"]
