"""The course API: one small view per operation. Access goes through courseapp.access."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, status
from rest_framework import serializers as drf_serializers
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import access, selectors, services, tokens
from .api_errors import FIELD_ERRORS, REFUSED, ApiProblem, problem_serializer, summary
from .models import Membership
from .parsers import ObjectJSONParser
from .request_types import UserRequest, signed_in_user
from .serializers import (
    ApiTokenCreatedSerializer,
    ApiTokenSerializer,
    CourseDetailSerializer,
    CourseSerializer,
    EnrollmentSerializer,
    LectureSerializer,
    RosterPreviewSerializer,
    RosterResultSerializer,
    RosterRowSerializer,
    RosterUploadSerializer,
    TokenObtainSerializer,
)


class CourseApi:
    """Token first, so an anonymous request gets 401 with `WWW-Authenticate: Token`.

    Its views keep IsAuthenticated, the default permission: their request's user is a User
    (request_types.UserRequest, signed_in_user)."""

    authentication_classes: Sequence[type[BaseAuthentication]] = [tokens.ApiTokenAuthentication,
                                                                   SessionAuthentication]


class TokenObtainApi(APIView):
    """POST username and password (and optionally a name); returns a NEW token, once.

    The response's `token` is the key for `Authorization: Token <token>`; it is never shown again
    (the database keeps only its SHA-256). Each call makes another token; list and revoke them at
    /api/auth/tokens/ or on the Tokens page (/account/tokens/).

    Throttled like the login page (courseapp.throttling): a locked-out username or address gets
    429 with `detail` saying when to try again and a `Retry-After` header.
    """

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [ObjectJSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=TokenObtainSerializer,
        responses={
            200: ApiTokenCreatedSerializer,
            # wrong credentials: {"non_field_errors": [...]}; a missing field: by field
            **FIELD_ERRORS,
            429: problem_serializer("LoginLockedOutProblem", retry_after_s=drf_serializers.IntegerField(
                help_text="Seconds until the lock ends at the latest")),
        },
    )
    def post(self, request: Request, *args, **kwargs) -> Response:
        # authenticate() gets Django's request, not DRF's wrapper: django-axes marks the request it
        # is given as locked out, and its middleware only sees Django's.
        login = AuthTokenSerializer(data=request.data, context={"request": request._request})
        login.is_valid(raise_exception=True)
        name = request.data.get("name") if hasattr(request.data, "get") else None
        if name is not None and not isinstance(name, str):
            raise ValidationError({"name": ["Send the token's name as text."]})
        try:
            token, key = tokens.token_create(user=login.validated_data["user"], name=name)
        except tokens.TokenError as exc:
            raise ValidationError({"name": [str(exc)]}) from None
        return Response(ApiTokenCreatedSerializer(token, context={"key": key}).data)


@extend_schema_view(get=extend_schema(responses={200: ApiTokenSerializer(many=True), **REFUSED, **FIELD_ERRORS}))
class TokenListApi(CourseApi, generics.ListAPIView):
    """My live API tokens: name, prefix (first 8 characters of the key), created, last used. Never the key."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        return tokens.tokens_of(user=signed_in_user(self.request))


class TokenRevokeApi(CourseApi, APIView):
    @extend_schema(responses={204: None, **REFUSED})
    def delete(self, request: UserRequest, token_id: int) -> Response:
        """Revoke one of my tokens: it stops working at once. Another person's token is a 404."""
        tokens.token_revoke(token=tokens.access_own_token(request.user, token_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_view(get=extend_schema(responses={200: CourseSerializer(many=True), **REFUSED, **FIELD_ERRORS}))
class CourseListApi(CourseApi, generics.ListAPIView):
    """The courses I belong to, with my role in each."""

    serializer_class = CourseSerializer

    def get_queryset(self):
        return access.courses_of(signed_in_user(self.request)).order_by("number", "term")

    def get_serializer_context(self) -> dict:
        roles = dict(
            Membership.objects.filter(user=signed_in_user(self.request), is_active=True).values_list("course_id", "role")
        )
        return {**super().get_serializer_context(), "roles": roles}


class CourseDetailApi(CourseApi, APIView):
    @extend_schema(responses={200: CourseDetailSerializer, **REFUSED})
    def get(self, request: UserRequest, code: str) -> Response:
        """The syllabus: course facts, staff, textbooks and the grading policy."""
        course = access.access_course(request.user, code)
        context = {"role": access.role_in(request.user, course), "syllabus": selectors.course_syllabus(course=course)}
        return Response(CourseDetailSerializer(course, context=context).data)


@extend_schema_view(get=extend_schema(responses={200: LectureSerializer(many=True), **REFUSED, **FIELD_ERRORS}))
class LectureListApi(CourseApi, generics.ListAPIView):
    """Every lecture of the course in date order (times in ISO 8601 with the course's UTC offset)."""

    serializer_class = LectureSerializer

    def get_queryset(self):
        course = access.access_course(signed_in_user(self.request), self.kwargs["code"])
        return course.lectures.order_by("starts_at")


@extend_schema_view(get=extend_schema(responses={200: EnrollmentSerializer(many=True), **REFUSED, **FIELD_ERRORS}))
class EnrollmentListApi(CourseApi, generics.ListAPIView):
    """Active members (staff first, then students by name). Staff only."""

    serializer_class = EnrollmentSerializer

    def get_queryset(self):
        course = access.access_course_as_staff(signed_in_user(self.request), self.kwargs["code"])
        return selectors.course_enrollments(course=course)


def _csv_text(request: Request) -> str:
    upload = RosterUploadSerializer(data=request.data)
    upload.is_valid(raise_exception=True)
    if upload.validated_data.get("file"):
        try:
            return services.decode_roster(upload.validated_data["file"].read())
        except ValueError as exc:
            from rest_framework.exceptions import ValidationError

            raise ValidationError({"file": [str(exc)]}) from None
    return upload.validated_data["csv"]


def _preview_data(preview: services.RosterPreview) -> dict:
    return {
        "ok": preview.ok,
        "counts": preview.counts,
        "rows": [
            {
                "line": row.line, "student_number": row.student_number, "username": row.username,
                "first_name": row.first_name, "last_name": row.last_name, "email": row.email,
                "action": row.action, "changes": row.changes,
            }
            for row in preview.rows
        ],
        "errors": [asdict(error) for error in preview.errors],
    }


class RosterPreviewApi(CourseApi, APIView):
    parser_classes = [MultiPartParser, ObjectJSONParser]

    @extend_schema(request=RosterUploadSerializer, responses={200: RosterPreviewSerializer, **FIELD_ERRORS,
                                                               **REFUSED})
    def post(self, request: UserRequest, code: str) -> Response:
        """What importing this roster CSV would do; changes nothing. Instructor only."""
        course = access.access_course_as_instructor(request.user, code)
        preview = services.roster_import_preview(course=course, csv_text=_csv_text(request))
        return Response(RosterPreviewSerializer(_preview_data(preview)).data)


ROSTER_REFUSED = problem_serializer(
    "RosterImportProblem", ok=drf_serializers.BooleanField(required=False), counts=drf_serializers.DictField(
        child=drf_serializers.IntegerField(), required=False), rows=RosterRowSerializer(many=True, required=False))


class RosterApplyApi(CourseApi, APIView):
    parser_classes = [MultiPartParser, ObjectJSONParser]

    @extend_schema(
        request=RosterUploadSerializer,
        # 400: the preview (ok false, with every bad row in `errors`), or messages by field for a body that
        # names no CSV; one open object documents both.
        responses={200: RosterResultSerializer, 400: OpenApiResponse(ROSTER_REFUSED, description=(
            "Problem details: every bad row in `errors` (field `line N`), with the preview beside them; or "
            "what to fix in a body that names no CSV")), **REFUSED},
    )
    def post(self, request: UserRequest, code: str) -> Response:
        """Import the roster atomically; 400 with the preview's errors, and nothing applied, if any row is bad."""
        course = access.access_course_as_instructor(request.user, code)
        try:
            result = services.roster_import_apply(course=course, csv_text=_csv_text(request), by=request.user)
        except services.RosterImportError as exc:
            found = RosterPreviewSerializer(_preview_data(exc.preview)).data
            errors = [{"field": f"line {e['line']}" if e["line"] else None, "message": e["message"]}
                      for e in found.pop("errors")]
            raise ApiProblem(summary(errors) or "The roster has no rows to import.", code="invalid", errors=errors,
                             **found) from None
        return Response(RosterResultSerializer(asdict(result)).data)
