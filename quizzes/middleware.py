"""The answer-save fast path: token clients' saves answered before the rest of the middleware stack.

At the end of a quiz, every student's client saves answers at once, and the
save is the site's hottest request. A save by an API client carrying
`Authorization: Token <key>` needs none of what the rest of the stack does for a
browser: no session, no CSRF check (the token is not an ambient credential; DRF's
token authentication does not check CSRF either), no messages, no URL resolution
beyond this one route. So this middleware, placed right after SecurityMiddleware
(HTTPS redirect and security headers still apply), recognises that one route and
answers a save that services.answer_save_by_token writes: that service checks the
token (by its digest, not revoked: courseapp.tokens), its user being active, the attempt being theirs, the course membership,
the deadline + grace and the sequence number in the one SQL statement that writes,
and has committed when it returns.

The page's poll of answer versions (GET …/quiz-attempts/<id>/answers/), which every
open taking page sends every few seconds, is answered here too: by token (checked in
the query that reads, like the save), or by session, through django.contrib.auth's
own get_user (the session and its auth hash verified as AuthenticationMiddleware
would), without the rest of the stack. A GET needs no CSRF check.

Anything else goes on down the stack unchanged: other routes and methods, session
users, bodies that are not a JSON object, and every save the statement declined
(wrong token, another student's attempt, past the deadline, a conflict, stale seq,
bad value).
A declined save wrote nothing, so the DRF view (AnswerSaveApi) answers it again
from scratch, with the reason as problem details (courseapp/api_errors.py), like every
other API error: this path itself only ever answers success (200), never an error.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

from . import services


class AnswerSaveFastPath:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        from .urls import (  # the routes as urls.py declares them: they cannot drift
            answer_save,
            answer_versions,
        )

        self.get_response = get_response
        self.route = answer_save
        self.versions_route = answer_versions

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info.startswith("/api/"):
            if request.method == "PUT":
                match = self.route.resolve(request.path_info[1:])
                if match is not None:
                    response = token_save(request, **match.kwargs)
                    if response is not None:
                        return response
            elif request.method == "GET":
                match = self.versions_route.resolve(request.path_info[1:])
                if match is not None:
                    response = versions_poll(request, **match.kwargs)
                    if response is not None:
                        return response
        return self.get_response(request)


def versions_poll(request: HttpRequest, code: str, attempt_id: int) -> HttpResponse | None:
    """The page's poll by token or session; None (DRF answers, and explains) for anything it cannot answer."""
    from django.conf import settings
    from django.contrib.auth import get_user
    from django.http import Http404
    from django.utils.module_loading import import_string

    from . import sync

    try:
        wanted = sync.parse_slot_list(request.GET.get("values", ""))
    except ValueError:
        return None
    credentials = request.META.get("HTTP_AUTHORIZATION", "").split()
    student, token = None, None
    if len(credentials) == 2 and credentials[0].lower() == "token":
        token = credentials[1]
    elif not credentials and settings.SESSION_COOKIE_NAME in request.COOKIES:
        engine = import_string(settings.SESSION_ENGINE)
        request.session = engine.SessionStore(request.COOKIES[settings.SESSION_COOKIE_NAME])
        user = get_user(request)
        if not user.is_authenticated:
            return None
        student = user
    else:
        return None
    request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check it
    try:
        data = sync.answer_versions(student=student, token=token, code=code, attempt_id=attempt_id,
                                    values_for=wanted)
    except Http404:
        return None
    response = HttpResponse(json.dumps(data, separators=(",", ":")), content_type="application/json")
    response["Cache-Control"] = "private, no-store"
    response["Vary"] = "Cookie, Authorization"
    return response


def token_save(request: HttpRequest, code: str, attempt_id: int, slot_id: int) -> HttpResponse | None:
    """Save by token in one SQL statement; None when this is not such a save or nothing was written."""
    credentials = request.META.get("HTTP_AUTHORIZATION", "").split()
    if len(credentials) != 2 or credentials[0].lower() != "token" or request.content_type != "application/json":
        return None
    request.get_host()  # ALLOWED_HOSTS, as CommonMiddleware would check it (DisallowedHost becomes a 400)
    try:
        data = json.loads(request.body)
    except (ValueError, RecursionError):  # DRF's parser explains (quizzes.parsers)
        return None
    if not isinstance(data, dict):
        return None
    result = services.answer_save_by_token(
        token=credentials[1], attempt_id=attempt_id, course_code=code, slot_id=slot_id,
        value=data.get("value"), seq=data.get("seq"), base=data.get("base"),
    )
    if result is None:
        return None
    return HttpResponse(json.dumps(result.as_json(), separators=(",", ":")), content_type="application/json")
