"""The error answers the course and LTI APIs share, for their OpenAPI documentation.

Refusals are DRF's `{"detail": "…"}` (401 without credentials, 403 for a role that may not, 404
for a course you are not in or an object that is not there; also for a path no route matches,
see courseapp.errors). A body DRF cannot accept is a 400 with messages by field
(`{"<field>": ["…"], "non_field_errors": ["…"]}`), or `{"detail": "…"}` for a malformed
query or body (bad JSON, `?limit=` out of range).
"""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

Detail = inline_serializer("ApiDetail", {"detail": serializers.CharField(help_text="What happened, in words")})

REFUSED = {
    401: OpenApiResponse(Detail, description="No or bad credentials"),
    403: OpenApiResponse(Detail, description="A member whose role does not allow this"),
    404: OpenApiResponse(Detail, description="Not a member of the course, or no such object"),
}
FIELD_ERRORS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="What to fix: messages by field "
                                                          "(`{\"<field>\": [\"…\"]}`), or `detail`"),
}
