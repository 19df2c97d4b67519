"""The LTI API: roster sync and grade passback for scripts. Instructor (or site admin) only."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser
from rest_framework.response import Response
from rest_framework.views import APIView

from courseapp.api_errors import REFUSED, ApiProblem, Problem, problem_serializer
from courseapp.parsers import ObjectJSONParser
from courseapp.request_types import UserRequest
from courseapp.tokens import ApiTokenAuthentication

from . import passback, roster, selectors
from .access import access_context, access_lti_course
from .models import SyncStatus
from .serializers import (
    LtiContextSerializer,
    LtiPassbackResultSerializer,
    LtiRosterApplySerializer,
    LtiRosterPreviewSerializer,
    LtiRosterSyncSerializer,
)

_SYNC_PROBLEM = problem_serializer(
    "LtiRosterSyncProblem", id=serializers.IntegerField(), at=serializers.DateTimeField(),
    sync_status=serializers.CharField(help_text="refused (nothing changed) or failed (platform unreachable)"),
    counts=serializers.DictField(child=serializers.IntegerField()))


class LtiApi(APIView):
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    parser_classes = [ObjectJSONParser, FormParser]


class ContextListApi(LtiApi):
    @extend_schema(responses={200: LtiContextSerializer(many=True), **REFUSED})
    def get(self, request: UserRequest, code: str) -> Response:
        """The platform courses that launched into this course."""
        course = access_lti_course(request.user, code)
        rows = [{
            "id": c.pk, "platform": c.platform.name, "title": c.title or c.context_id,
            "last_launch_at": c.last_launch_at, "roster_service": bool(c.nrps_claim),
            "grade_service": bool(c.ags_claim), "failed_posts": c.failed_posts,
        } for c in selectors.contexts_of(course=course)]
        return Response(LtiContextSerializer(rows, many=True).data)


class RosterSyncApi(LtiApi):
    @extend_schema(responses={200: LtiRosterPreviewSerializer,
                              502: OpenApiResponse(Problem, description="The platform did not answer: why, in `detail`"),
                              **REFUSED})
    def get(self, request: UserRequest, code: str, context_id: int) -> Response:
        """What syncing the platform's roster would do; changes nothing. 502: the platform did not answer."""
        context = access_context(request.user, code, context_id)
        try:
            preview = roster.roster_sync_preview(context=context)
        except roster.RosterUnavailable as exc:
            raise ApiProblem(str(exc), status=status.HTTP_502_BAD_GATEWAY, code="platform_unavailable") from None
        counts = dict(preview.roster.counts) | {"dropped": len(preview.leavers), "staff": len(preview.staff)}
        return Response(LtiRosterPreviewSerializer({
            "ok": preview.ok, "digest": preview.digest, "counts": counts,
            "leavers": [u.username for u in preview.leavers], "errors": preview.errors + preview.row_problems,
        }).data)

    @extend_schema(request=LtiRosterApplySerializer,
                   responses={200: LtiRosterSyncSerializer,
                              400: OpenApiResponse(_SYNC_PROBLEM, description="Refused, nothing changed: why, in "
                                                                             "`detail` and `errors`"),
                              502: OpenApiResponse(_SYNC_PROBLEM, description="The platform did not answer"),
                              **REFUSED})
    def post(self, request: UserRequest, code: str, context_id: int) -> Response:
        """Apply the platform's roster, all or nothing. 400: refused (nothing changed); 502: platform unreachable."""
        context = access_context(request.user, code, context_id)
        body = LtiRosterApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sync = roster.roster_sync_apply(context=context, by=request.user,
                                        expected_digest=body.validated_data.get("digest"))
        data = LtiRosterSyncSerializer({"id": sync.pk, "at": sync.at, "status": sync.status,
                                        "counts": sync.counts, "errors": sync.errors}).data
        if sync.status == SyncStatus.APPLIED:
            return Response(data)
        # Refused (400) or failed (502): problem details, with the sync's record beside them.
        messages = list(data.pop("errors")) or ["The roster was not applied."]
        data["sync_status"] = data.pop("status")
        raise ApiProblem(" ".join(messages), status=400 if sync.status == SyncStatus.REFUSED else 502,
                         code=str(sync.status), errors=[{"field": None, "message": m} for m in messages], **data)


class PassbackSendApi(LtiApi):
    @extend_schema(request=None, responses={200: LtiPassbackResultSerializer, **REFUSED})
    def post(self, request: UserRequest, code: str, context_id: int) -> Response:
        """Queue every released score that changed since it was last posted (what the 5-minute sync does)."""
        context = access_context(request.user, code, context_id)
        result = passback.passback_queue(context=context)
        return Response(LtiPassbackResultSerializer({"queued": len(result.queued),
                                                  "without_account": result.without_account,
                                                  "unpublished": result.unpublished}).data)
