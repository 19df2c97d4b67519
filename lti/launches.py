"""LTI launches: validate (PyLTI1p3 + our replay check), then map the person, context and role.

`launch_validate` turns every way a launch can be wrong into `LaunchRefused` with a
message for the person and a reason for the log; `launch_login` is the write: it finds
or makes the site user for (platform, sub), the course membership for the LTI role,
and records the context's service endpoints for roster sync and grade passback.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone
from pylti1p3.contrib.django import DjangoMessageLaunch, DjangoOIDCLogin
from pylti1p3.exception import LtiException, OIDCException

from courseapp.models import Course, Membership, Role, User
from courseapp.services import STUDENT_NUMBER

from .models import Context, Identity, Platform, UsedNonce
from .toolconf import PLATFORM_KEYS_TTL, DatabaseLaunchDataStorage, ToolConf

logger = logging.getLogger(__name__)

CLAIM = "https://purl.imsglobal.org/spec/lti/claim/"
NRPS_CLAIM = "https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"
AGS_CLAIM = "https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"
DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"
MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"


class Refusal:
    """Why a launch was refused; the log line carries it, the page explains it."""

    COOKIES = "cookies"
    UNKNOWN_PLATFORM = "unknown_platform"
    UNKNOWN_DEPLOYMENT = "unknown_deployment"
    EXPIRED = "expired"
    REPLAYED = "replayed"
    SIGNATURE = "signature"
    INVALID = "invalid"
    ROLE = "role"


MESSAGES = {
    Refusal.COOKIES: (
        "This launch could not be matched to the sign-in that started it. Your browser probably blocks "
        "cookies inside the course page's frame. Open the activity in a new window and try again."
    ),
    Refusal.UNKNOWN_PLATFORM: (
        "This site does not know the platform (issuer and client id) that sent you. The instructor must "
        "register it under LTI platforms first."
    ),
    Refusal.UNKNOWN_DEPLOYMENT: (
        "The platform is registered, but not this deployment of the tool. The instructor must add its "
        "deployment id to the platform's registration."
    ),
    Refusal.EXPIRED: "This launch has expired. Go back to the course page and open the activity again.",
    Refusal.REPLAYED: (
        "This launch was already used once. Go back to the course page and open the activity again "
        "(reloading a launch page does not work)."
    ),
    Refusal.SIGNATURE: (
        "This launch is not signed by the registered platform's key, so it was refused."
    ),
    Refusal.INVALID: "This launch message is not a valid LTI 1.3 launch, so it was refused.",
    Refusal.ROLE: (
        "Your role on the platform has no place in this course (only Instructor, Teaching Assistant and "
        "Learner do)."
    ),
}


class LaunchRefused(Exception):
    def __init__(self, reason: str, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")

    @property
    def message(self) -> str:
        return MESSAGES[self.reason]


def _storage() -> DatabaseLaunchDataStorage:
    return DatabaseLaunchDataStorage()


def oidc_login(request, *, launch_url: str):
    """Answer a platform's OIDC third-party login initiation: redirect to its auth URL.

    With cookies blocked in the frame, PyLTI1p3's check page offers a new window.
    Raises LaunchRefused for an unknown issuer / client id.
    """
    tool_conf = ToolConf()
    login = DjangoOIDCLogin(request, tool_conf, launch_data_storage=_storage())
    try:
        return login.enable_check_cookies(
            main_msg="Your browser blocks cookies inside this frame, so the course site cannot sign you in here.",
            click_msg="Open the course site in a new window",
            loading_msg="Signing you in…",
        ).redirect(launch_url)
    except (LtiException, OIDCException) as exc:
        raise LaunchRefused(Refusal.UNKNOWN_PLATFORM, str(exc)) from exc


def _classify(exc: LtiException) -> str:
    text = str(exc)
    if "State not found" in text or "Missing state" in text or "Missing %s cookie" in text:
        return Refusal.COOKIES
    if "Invalid Nonce" in text:
        return Refusal.EXPIRED
    if "Registration not found" in text or "Client id not registered" in text:
        return Refusal.UNKNOWN_PLATFORM
    if "deployment" in text.lower():
        return Refusal.UNKNOWN_DEPLOYMENT
    if "expired" in text.lower():
        return Refusal.EXPIRED
    if "Unable to find public key" in text or "Signature verification failed" in text or "KID" in text:
        return Refusal.SIGNATURE
    return Refusal.INVALID


def _message_launch(request, tool_conf: ToolConf) -> DjangoMessageLaunch:
    launch = DjangoMessageLaunch(request, tool_conf, launch_data_storage=_storage())
    launch.set_public_key_caching(_storage(), cache_lifetime=PLATFORM_KEYS_TTL)
    return launch


def launch_validate(request) -> tuple[DjangoMessageLaunch, Platform]:
    """Validate the POSTed id_token; raise LaunchRefused saying why when it is not acceptable.

    PyLTI1p3 checks state (against our cookie/storage), nonce (issued at login), the
    registration (iss + aud), the RS256 signature against the platform's cached JWKS,
    exp/iat, the deployment, and the message claims. A platform key unknown to the
    cached keyset (the platform rotated) refetches the keyset once. Then the nonce is
    recorded: a second launch with it is a replay.
    """
    tool_conf = ToolConf()
    try:
        try:
            launch = _message_launch(request, tool_conf)
            # the library's TypedDict names a few claims; the code reads any claim, defensively
            data: Mapping[str, Any] = launch.get_launch_data()
        except LtiException as exc:
            if "Unable to find public key" not in str(exc) or tool_conf.platform is None:
                raise
            from hashlib import md5

            from .models import LaunchValue

            LaunchValue.objects.filter(
                key__endswith="key-set-url-" + md5(tool_conf.platform.key_set_url.encode()).hexdigest()
            ).delete()
            launch = _message_launch(request, tool_conf)
            data = launch.get_launch_data()
    except LtiException as exc:
        raise LaunchRefused(_classify(exc), str(exc)) from exc
    except (KeyError, TypeError, ValueError) as exc:  # malformed claims the library does not guard
        raise LaunchRefused(Refusal.INVALID, f"{type(exc).__name__}: {exc}") from exc
    platform = tool_conf.platform
    if platform is None:
        raise LaunchRefused(Refusal.UNKNOWN_PLATFORM, "no platform after validation")
    expires = dt.datetime.fromtimestamp(int(data.get("exp", 0)), tz=dt.UTC)
    try:
        with transaction.atomic():
            UsedNonce.objects.create(platform=platform, nonce=str(data["nonce"])[:255],
                                     expires_at=max(expires, timezone.now() + dt.timedelta(hours=1)))
    except IntegrityError:
        raise LaunchRefused(Refusal.REPLAYED, f"nonce {data['nonce']!r} seen before") from None
    return launch, platform


def used_nonces_purge() -> int:
    deleted, _ = UsedNonce.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


def role_for(roles: list[str]) -> str | None:
    """The course role for LTI roles: TeachingAssistant wins over Instructor (it is a sub-role
    of it), then Instructor, then Learner. None: no course role (e.g. only Administrator)."""
    short = set()
    for role in roles:
        if role.startswith(MEMBERSHIP):
            short.add(role[len(MEMBERSHIP):])
        elif role.startswith("http://purl.imsglobal.org/vocab/lis/v2/"):
            continue  # system and institution roles say nothing about this course
        else:
            short.add(role)  # LTI 1.1-style short names, which platforms may still send
    if any(r in {"Instructor#TeachingAssistant", "TeachingAssistant"} or r.startswith("TeachingAssistant")
           for r in short):
        return Role.TA
    if "Instructor" in short:
        return Role.INSTRUCTOR
    if "Learner" in short or any(r.startswith("Learner#") for r in short):
        return Role.STUDENT
    return None


def _mapping(value: object) -> dict:
    """A claim that must be a JSON object; anything else (a platform bug, a forged token) counts as absent."""
    return value if isinstance(value, dict) else {}


def student_number_from(data: Mapping[str, Any]) -> str:
    """The student number a launch or NRPS member carries (Moodle's ID number, Canvas's SIS id)."""
    candidates = [data.get("lis_person_sourcedid", ""), _mapping(data.get(CLAIM + "lis")).get("person_sourcedid", "")]
    for value in candidates:
        value = str(value or "").strip()
        if STUDENT_NUMBER.match(value):
            return value
    return ""


def _username(platform: Platform, sub: str) -> str:
    base = re.sub(r"[^\w.@+-]", "", sub)[:40] or secrets.token_hex(6)
    username = f"lti{platform.pk}-{base}"
    while User.objects.filter(username=username).exists():
        username = f"lti{platform.pk}-{base[:30]}-{secrets.token_hex(3)}"
    return username


def user_for(*, platform: Platform, sub: str, email: str, student_number: str, first_name: str,
             last_name: str) -> User:
    """The site user of (platform, sub): the linked one, else a matched one (only as the
    platform's registration allows), else a new account with no password. Caller holds a transaction."""
    identity = Identity.objects.select_related("user").filter(platform=platform, sub=sub).first()
    if identity is not None:
        return identity.user
    user = None
    if platform.match_by_student_number and student_number:
        user = User.objects.filter(student_number=student_number).first()
    if user is None and platform.match_by_email and email:
        matches = list(User.objects.filter(email__iexact=email)[:2])
        user = matches[0] if len(matches) == 1 else None
    if user is not None and Identity.objects.filter(platform=platform, user=user).exists():
        user = None  # that account is already someone else's on this platform
    if user is None:
        number_free = student_number and not User.objects.filter(student_number=student_number).exists()
        user = User(username=_username(platform, sub), email=email, first_name=first_name[:150],
                    last_name=last_name[:150], student_number=student_number if number_free else None)
        user.set_unusable_password()
        user.save()
    Identity.objects.create(platform=platform, sub=sub, user=user)
    return user


@dataclass(frozen=True)
class LaunchOutcome:
    user: User
    course: Course
    role: str  # the role the person has in the course now
    context: Context


def launch_login(*, platform: Platform, data: Mapping[str, Any]) -> LaunchOutcome:
    """Record a validated launch: the person, their membership and the context's services.

    The LTI role gives the course role of a new membership (and re-activates a dropped
    student); an existing membership keeps its role, so an instructor who "switches role
    to student" in Moodle stays the instructor here.
    """
    sub = str(data.get("sub") or "")
    if not sub:
        raise LaunchRefused(Refusal.INVALID, "anonymous launch (no sub)")
    roles = data.get(CLAIM + "roles")
    lti_role = role_for([str(r) for r in roles] if isinstance(roles, list) else [])
    if lti_role is None:
        raise LaunchRefused(Refusal.ROLE, f"roles {data.get(CLAIM + 'roles')!r}")
    context_claim = _mapping(data.get(CLAIM + "context"))
    context_id = str(context_claim.get("id") or f"deployment:{data.get(CLAIM + 'deployment_id')}")
    now = timezone.now()
    with transaction.atomic():
        user = user_for(
            platform=platform, sub=sub, email=str(data.get("email") or "").lower(),
            student_number=student_number_from(data), first_name=str(data.get("given_name") or ""),
            last_name=str(data.get("family_name") or ""),
        )
        Identity.objects.filter(platform=platform, sub=sub).update(last_launch_at=now)
        context, _ = Context.objects.get_or_create(
            platform=platform, context_id=context_id[:255],
            defaults={"course": platform.course, "title": str(context_claim.get("title") or "")[:255]},
        )
        context.last_launch_at = now
        fields = ["last_launch_at"]
        if _mapping(data.get(NRPS_CLAIM)):
            context.nrps_claim, fields = data[NRPS_CLAIM], [*fields, "nrps_claim"]
        if _mapping(data.get(AGS_CLAIM)):
            context.ags_claim, fields = data[AGS_CLAIM], [*fields, "ags_claim"]
        context.save(update_fields=fields)
        course = context.course
        membership = Membership.objects.select_for_update().filter(course=course, user=user).first()
        if membership is None:
            membership = Membership.objects.create(course=course, user=user, role=lti_role)
        elif not membership.is_active and membership.role == lti_role:
            membership.is_active = True
            membership.save(update_fields=["is_active"])
        elif membership.role != lti_role:
            logger.info("lti launch: %s is %s in %s, platform says %s; kept %s",
                        user.username, membership.role, course.code, lti_role, membership.role)
    logger.info("lti launch: %s (%s on %s) signed in to %s as %s",
                user.username, sub, platform.issuer, course.code, membership.role)
    return LaunchOutcome(user=user, course=course, role=membership.role, context=context)


def launch_target(*, data: Mapping[str, Any], course: Course) -> str:
    """Where the launch lands: the deep-linked page (custom `target`) or the launch URL's path,
    when it is a page of this course; the course page otherwise."""
    custom = _mapping(data.get(CLAIM + "custom"))
    prefix = f"/courses/{course.code}/"
    for candidate in (custom.get("target"), urlsplit(str(data.get(CLAIM + "target_link_uri") or "")).path):
        if isinstance(candidate, str) and candidate.startswith(prefix) and ".." not in candidate:
            return candidate
    return prefix


def frame_origin(platform: Platform) -> str:
    """The origin that frames us (for CSP frame-ancestors): the platform's login URL's."""
    parts = urlsplit(platform.auth_login_url or platform.issuer)
    return f"{parts.scheme}://{parts.netloc}"
