"""The LTI API: roster sync and grade passback for scripts. Instructor (or site admin) only."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.authentication import SessionAuthentication
from rest_framework.parsers import FormParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from courseapp.api_errors import REFUSED
from courseapp.parsers import ObjectJSONParser
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


class LtiApi(APIView):
    authentication_classes = [ApiTokenAuthentication, SessionAuthentication]
    parser_classes = [ObjectJSONParser, FormParser]


class ContextListApi(LtiApi):
    @extend_schema(responses={200: LtiContextSerializer(many=True), **REFUSED})
    def get(self, request: Request, code: str) -> Response:
        """The platform courses that launched into this course."""
        course = access_lti_course(request.user, code)
        rows = [{
            "id": c.pk, "platform": c.platform.name, "title": c.title or c.context_id,
            "last_launch_at": c.last_launch_at, "roster_service": bool(c.nrps_claim),
            "grade_service": bool(c.ags_claim), "failed_posts": c.failed_posts,
        } for c in selectors.contexts_of(course=course)]
        return Response(LtiContextSerializer(rows, many=True).data)


class RosterSyncApi(LtiApi):
    @extend_schema(responses={200: LtiRosterPreviewSerializer, 502: LtiRosterPreviewSerializer, **REFUSED})
    def get(self, request: Request, code: str, context_id: int) -> Response:
        """What syncing the platform's roster would do; changes nothing. 502: the platform did not answer."""
        context = access_context(request.user, code, context_id)
        try:
            preview = roster.roster_sync_preview(context=context)
        except roster.RosterUnavailable as exc:
            return Response(LtiRosterPreviewSerializer({"ok": False, "digest": "", "counts": {}, "leavers": [],
                                                    "errors": [str(exc)]}).data, status=status.HTTP_502_BAD_GATEWAY)
        counts = dict(preview.roster.counts) | {"dropped": len(preview.leavers), "staff": len(preview.staff)}
        return Response(LtiRosterPreviewSerializer({
            "ok": preview.ok, "digest": preview.digest, "counts": counts,
            "leavers": [u.username for u in preview.leavers], "errors": preview.errors + preview.row_problems,
        }).data)

    @extend_schema(request=LtiRosterApplySerializer,
                   responses={200: LtiRosterSyncSerializer, 400: LtiRosterSyncSerializer, 502: LtiRosterSyncSerializer,
                              **REFUSED})
    def post(self, request: Request, code: str, context_id: int) -> Response:
        """Apply the platform's roster, all or nothing. 400: refused (nothing changed); 502: platform unreachable."""
        context = access_context(request.user, code, context_id)
        body = LtiRosterApplySerializer(data=request.data)
        body.is_valid(raise_exception=True)
        sync = roster.roster_sync_apply(context=context, by=request.user,
                                        expected_digest=body.validated_data.get("digest"))
        code_for = {SyncStatus.APPLIED: 200, SyncStatus.REFUSED: 400, SyncStatus.FAILED: 502}
        return Response(LtiRosterSyncSerializer({"id": sync.pk, "at": sync.at, "status": sync.status,
                                              "counts": sync.counts, "errors": sync.errors}).data,
                        status=code_for[sync.status])


class PassbackSendApi(LtiApi):
    @extend_schema(request=None, responses={200: LtiPassbackResultSerializer, **REFUSED})
    def post(self, request: Request, code: str, context_id: int) -> Response:
        """Queue every released score that changed since it was last posted (what the 5-minute sync does)."""
        context = access_context(request.user, code, context_id)
        result = passback.passback_queue(context=context)
        return Response(LtiPassbackResultSerializer({"queued": len(result.queued),
                                                  "without_account": result.without_account,
                                                  "unpublished": result.unpublished}).data)
