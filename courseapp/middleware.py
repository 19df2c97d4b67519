"""A database that is briefly unreachable (a PostgreSQL restart) is answered 503, not 500.

The request did not complete: a client may try again (Retry-After).  Views that
commit and then read again handle their own retries (projects' submission API
answers 201 once the submission is committed).
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse

from .api_errors import problem_response, wants_json

log = logging.getLogger(__name__)

MESSAGE = "The course database is restarting, so your request was not completed. Try again in a minute."


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.warning("database unreachable while serving %s %s: %s", request.method, request.path, exception)
        if wants_json(request):
            response: HttpResponse = problem_response(request, 503, MESSAGE, code="database_unavailable")
        else:
            response = HttpResponse(f"<!doctype html><title>Try again in a minute</title><p>{MESSAGE}</p>",
                                    status=503)
        response["Retry-After"] = "30"
        return response
