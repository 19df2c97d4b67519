"""REST API for course datasets: list, and chunked resumable uploads (instructors).

    GET  api/courses/<code>/datasets/                        every version, newest first (staff)
    POST api/courses/<code>/datasets/uploads/                {"name", "filename", "size"} -> {"id", "chunk_bytes", ...}
    GET  api/courses/<code>/datasets/uploads/<id>/           {"received", "size"}: where to resume
    PUT  api/courses/<code>/datasets/uploads/<id>/           raw bytes; header ``Upload-Offset: <received>``
    POST api/courses/<code>/datasets/uploads/<id>/finish/    verify, register -> the dataset version

A GB-sized archive is sent as chunks of at most ``chunk_bytes``; after a dropped
connection the client asks GET for ``received`` and continues from there
(docs/harness.md, "Datasets", has a curl loop).
"""

from __future__ import annotations

from django.db import transaction
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import BaseParser
from rest_framework.response import Response
from rest_framework.views import APIView

from courseapp.access import access_course_as_instructor, access_course_as_staff
from courseapp.api_errors import ApiProblem
from courseapp.api_errors import Problem as ErrorSerializer
from courseapp.parsers import ObjectJSONParser
from courseapp.request_types import UserRequest

from . import datasets
from .models import Dataset
from .services import ProjectError

_REFUSED = {
    400: OpenApiResponse(ErrorSerializer, description="What to fix, in `detail`"),
    401: OpenApiResponse(ErrorSerializer, description="No or bad credentials"),
    403: OpenApiResponse(ErrorSerializer, description="Not the course's instructor"),
    404: OpenApiResponse(ErrorSerializer, description="Not a member of the course"),
}


class DatasetSerializer(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField(help_text="sha256 of the files (paths and contents)")
    size_bytes = serializers.IntegerField(help_text="Unpacked")
    file_count = serializers.IntegerField()
    uploaded_at = serializers.DateTimeField()


class DatasetListSerializer(serializers.Serializer):
    datasets = DatasetSerializer(many=True)


class UploadStartSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    filename = serializers.CharField(max_length=200)
    size = serializers.IntegerField(min_value=1)


class UploadStateSerializer(serializers.Serializer):
    id = serializers.CharField()
    received = serializers.IntegerField(help_text="Bytes stored so far: the next chunk's Upload-Offset")
    size = serializers.IntegerField()
    chunk_bytes = serializers.IntegerField(help_text="Largest chunk one PUT may carry")


class _RawParser(BaseParser):
    """Leaves the body unread: the view streams it to disk in 1 MB blocks."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream


def _dataset(d: Dataset) -> dict:
    return {"name": d.name, "version": d.version, "size_bytes": d.size_bytes, "file_count": d.file_count,
            "uploaded_at": d.uploaded_at}


def _bad(exc: ProjectError) -> ApiProblem:
    """A refusal (what to fix) as a 400 problem (courseapp.api_errors)."""
    return ApiProblem(str(exc), code="invalid")


class DatasetListApi(APIView):
    @extend_schema(operation_id="datasets_list", summary="Datasets of a course",
                   responses={200: DatasetListSerializer, **_REFUSED})
    def get(self, request: UserRequest, code: str) -> Response:
        course = access_course_as_staff(request.user, code)
        rows = Dataset.objects.filter(course=course).order_by("name", "-uploaded_at", "-id")
        return Response({"datasets": [_dataset(d) for d in rows]})


class DatasetUploadStartApi(APIView):
    parser_classes = [ObjectJSONParser]

    @extend_schema(operation_id="datasets_upload_start", summary="Start a chunked dataset upload",
                   request=UploadStartSerializer, responses={201: UploadStateSerializer, **_REFUSED})
    def post(self, request: UserRequest, code: str) -> Response:
        course = access_course_as_instructor(request.user, code)
        form = UploadStartSerializer(data=request.data)
        if not form.is_valid():
            raise serializers.ValidationError(form.errors)
        try:
            state = datasets.upload_start(course=course, by=request.user, **form.validated_data)
        except ProjectError as exc:
            raise _bad(exc) from None
        return Response(state, status=status.HTTP_201_CREATED)


class DatasetUploadApi(APIView):
    parser_classes = [_RawParser]

    @extend_schema(operation_id="datasets_upload_status", summary="How much of an upload arrived",
                   responses={200: UploadStateSerializer, **_REFUSED})
    def get(self, request: UserRequest, code: str, upload: str) -> Response:
        course = access_course_as_instructor(request.user, code)
        try:
            return Response(datasets.upload_status(course=course, upload_id=upload, by=request.user))
        except ProjectError as exc:
            raise _bad(exc) from None

    @extend_schema(operation_id="datasets_upload_chunk", summary="Send one chunk (raw bytes)",
                   request={"application/octet-stream": bytes},
                   parameters=[OpenApiParameter("Upload-Offset", int, OpenApiParameter.HEADER, required=True,
                                                description="Byte offset of this chunk: the `received` so far")],
                   responses={200: UploadStateSerializer, **_REFUSED})
    def put(self, request: UserRequest, code: str, upload: str) -> Response:
        course = access_course_as_instructor(request.user, code)
        raw = request.headers.get("Upload-Offset", "")
        if not raw.isdigit():
            raise ApiProblem("Send the header Upload-Offset: <bytes received so far> with each chunk.",
                             code="invalid")
        try:
            return Response(datasets.upload_chunk(course=course, upload_id=upload, offset=int(raw),
                                                  stream=request._request, by=request.user))
        except ProjectError as exc:
            raise _bad(exc) from None


class DatasetUploadFinishApi(APIView):
    @extend_schema(operation_id="datasets_upload_finish", summary="Verify and register a finished upload",
                   request=None, responses={201: DatasetSerializer, **_REFUSED})
    def post(self, request: UserRequest, code: str, upload: str) -> Response:
        course = access_course_as_instructor(request.user, code)
        try:
            with transaction.atomic():
                dataset = datasets.upload_finish(course=course, upload_id=upload, by=request.user)
        except ProjectError as exc:
            raise _bad(exc) from None
        return Response(_dataset(dataset), status=status.HTTP_201_CREATED)
