"""Login throttling on top of django-axes: per-username and per-address limits, the answer a
locked-out client gets, and the instructor's unlock.

Every login path (/login/, /api/auth/token/, /admin/login/) calls
django.contrib.auth.authenticate with the request; axes' backend (first in
AUTHENTICATION_BACKENDS) refuses a locked username or address before the password is hashed,
and its signal handler (LoginThrottleHandler) counts each failure. Settings: LOGIN_* in
courseapp/settings.py; README, "Login throttling".
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import datetime, timedelta

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_failure_limit
from axes.models import AccessAttempt
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db import transaction
from django.db.models import Max, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from .api_errors import problem_response
from .models import Course, Membership, User

log = logging.getLogger(__name__)


def client_ip(request: HttpRequest) -> str | None:
    """The client's address: X-Real-IP set by deploy/nginx when BEHIND_PROXY, else REMOTE_ADDR.

    Only trust the header when the app is reachable from the proxy alone (docker-compose
    exposes gunicorn to the proxy and publishes nothing else); a client could forge it otherwise.
    """
    if settings.BEHIND_PROXY:
        real_ip = request.META.get("HTTP_X_REAL_IP", "").strip()
        if real_ip:
            return real_ip
    return request.META.get("REMOTE_ADDR")


def cool_off() -> timedelta:
    return settings.AXES_COOLOFF_TIME


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler with two limits instead of one.

    Axes compares the largest of the per-parameter failure counts with one limit; an address
    shared by a whole lab (NAT) needs a higher limit than a username, so the address count
    only locks once it reaches LOGIN_FAILURE_LIMIT_PER_IP.
    """

    def get_failures(self, request: HttpRequest, credentials: dict | None = None) -> int:
        by_username, by_address = (
            qs.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for qs in self.get_user_attempts(request, credentials)
        )
        if by_address >= settings.LOGIN_FAILURE_LIMIT_PER_IP:
            return max(by_username, get_failure_limit(request, credentials))
        return by_username

    def reset_user_attempts(self, request: HttpRequest, credentials: dict | None = None) -> int:
        """On a successful login forget this username's failures only.

        Axes would also forget every failure from the address, so a student could guess
        classmates' passwords and reset the address's count by logging into their own account.
        """
        by_username = self.filter_user_attempts(request, credentials)[0]
        count, _ = by_username.delete()
        return count


def lock_ends_at(*, username: str | None, ip_address: str | None) -> datetime:
    """When a lock on this username or address ends at the latest (its last failure + cool-off).

    An upper bound: older failures expire earlier and may lift the lock sooner.
    """
    last = AccessAttempt.objects.filter(
        Q(username=username) | Q(ip_address=ip_address)
    ).aggregate(last=Max("attempt_time"))["last"]
    return (last or timezone.now()) + cool_off()


def lockout_message(*, until: datetime) -> str:
    minutes = max(1, math.ceil((until - timezone.now()).total_seconds() / 60))
    local = timezone.localtime(until).strftime("%H:%M")
    return (
        f"Too many failed logins for this account or from this address. Try again after {local} "
        f"(in {minutes} minute{'s' if minutes != 1 else ''}), or ask your instructor to unlock your account."
    )


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict | None
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: 429 with when to try again, JSON for the API, the login page otherwise."""
    until = lock_ends_at(
        username=get_client_username(request, credentials), ip_address=getattr(request, "axes_ip_address", None)
    )
    message = lockout_message(until=until)
    retry_after = max(1, math.ceil((until - timezone.now()).total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = problem_response(
            request, settings.AXES_HTTP_RESPONSE_CODE, message, code="throttled", retry_after_s=retry_after
        )
    else:
        response = render(
            request,
            "registration/login.html",
            {"form": AuthenticationForm(request), "lockout_message": message, "next": request.POST.get("next", "")},
            status=settings.AXES_HTTP_RESPONSE_CODE,
        )
    response["Retry-After"] = str(retry_after)
    return response


# --- The roster page's view of it -------------------------------------------------------------


def locked_out_usernames(*, usernames: Iterable[str]) -> dict[str, datetime]:
    """{username: when its lock ends} for those of ``usernames`` locked by their own failures."""
    since = timezone.now() - cool_off()
    rows = (
        AccessAttempt.objects.filter(username__in=list(usernames), attempt_time__gte=since)
        .values("username")
        .annotate(failures=Sum("failures_since_start"), last=Max("attempt_time"))
        .filter(failures__gte=settings.AXES_FAILURE_LIMIT)
    )
    return {row["username"]: row["last"] + cool_off() for row in rows}


def login_lock_clear(*, course: Course, user: User, by: User) -> int:
    """Forget ``user``'s failed logins (all addresses), so they can log in now.

    ``user`` must be a member of ``course``; the caller has checked that ``by`` is its
    instructor. Returns how many attempt records were removed. An address locked by many
    usernames' failures stays locked until it cools off (or `manage.py axes_reset_ip`).
    """
    if not Membership.objects.filter(course=course, user=user).exists():
        raise Membership.DoesNotExist(f"{user.username} is not a member of {course.code}.")
    with transaction.atomic():
        removed = axes_reset(username=user.username)
    log.info("login lock of %s cleared by %s (%s): %d records", user.username, by.username, course.code, removed)
    return removed
