"""Payloads of the LTI API (documented in the OpenAPI schema)."""

from __future__ import annotations

from rest_framework import serializers


class LtiContextSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    platform = serializers.CharField(help_text="The registered platform's name")
    title = serializers.CharField(help_text="The platform course's title")
    last_launch_at = serializers.DateTimeField(allow_null=True)
    roster_service = serializers.BooleanField(help_text="The platform offered NRPS (roster sync is possible)")
    grade_service = serializers.BooleanField(help_text="The platform offered AGS (grade passback is possible)")
    failed_posts = serializers.IntegerField(help_text="Score posts the platform refused")


class LtiRosterPreviewSerializer(serializers.Serializer):
    ok = serializers.BooleanField(help_text="True: Apply would change the roster")
    digest = serializers.CharField(help_text="Send back with Apply to apply exactly this preview")
    counts = serializers.DictField(child=serializers.IntegerField(),
                                   help_text="create, enroll, update, unchanged (as the CSV import), dropped, staff")
    leavers = serializers.ListField(child=serializers.CharField(), help_text="Usernames to be marked dropped")
    # The API's key: SerializerMetaclass takes declared fields off the class, so Serializer.errors is not shadowed.
    errors = serializers.ListField(  # type: ignore[assignment]
        child=serializers.CharField(), help_text="Why Apply would change nothing")


class LtiRosterApplySerializer(serializers.Serializer):
    digest = serializers.CharField(required=False, help_text="The preview's digest; omit to apply what is there now")


class LtiRosterSyncSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    status = serializers.CharField(help_text="applied, refused (nothing changed) or failed (platform unreachable)")
    counts = serializers.DictField(child=serializers.IntegerField())
    # The API's key: SerializerMetaclass takes declared fields off the class, so Serializer.errors is not shadowed.
    errors = serializers.ListField(child=serializers.CharField())  # type: ignore[assignment]


class LtiPassbackResultSerializer(serializers.Serializer):
    queued = serializers.IntegerField(help_text="Scores queued for posting (changed since last posted)")
    without_account = serializers.IntegerField(help_text="Scores of students with no platform id (not posted)")
    unpublished = serializers.ListField(child=serializers.CharField(), help_text="Columns the platform refused")
