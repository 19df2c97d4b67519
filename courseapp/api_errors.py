"""Every API error answer is an RFC 9457 problem details object, `application/problem+json`.

    {"type": "about:blank", "title": "Bad Request", "status": 400,
     "detail": "points: A valid number is required.", "instance": "/api/courses/ceng501/grades/",
     "code": "invalid", "errors": [{"field": "points", "message": "A valid number is required."}]}

- `detail` is the sentence to show a person; `title` is the status's name; `instance` the path asked.
- `code` (extension): a stable machine-readable code where there is one (DRF's: not_authenticated,
  permission_denied, not_found, throttled, parse_error, invalid; the quizzes': conflict, submitted,
  deadline_passed, …).
- `errors` (extension), on validation failures: each message with the field it is about
  (`field` null for a message about the whole request, `line 3` style for a file's row).
- Some answers add their own extension members beside these (a quiz answer conflict carries the
  server's `value`, `version`, `saved_at`; a 413 `limit_bytes`; a 429 `retry_after_s`).

One DRF exception handler (REST_FRAMEWORK["EXCEPTION_HANDLER"]) builds them from what views raise:
DRF's exceptions, Django's ValidationError (a service's "what to fix"), and ApiProblem (a view's
own refusal with extension members). Answers made outside DRF (404/500 for unrouted paths in
courseapp.errors, the 413 body limit, the login lockout 429, the database-down 503) use
problem_response, so a client reads one shape wherever it failed. The OpenAPI schema documents
each error answer as `application/problem+json` with the Problem component (problem_media_types,
a drf-spectacular post-processing hook).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

PROBLEM_JSON = "application/problem+json"
NON_FIELD = {"non_field_errors", "__all__", "detail"}


def title_of(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def field_errors(detail: Any, prefix: str | None = None) -> list[dict[str, str | None]]:
    """DRF's or Django's error structure -> [{"field": "points", "message": "…"}], nested fields dotted."""
    if isinstance(detail, dict):
        out: list[dict[str, str | None]] = []
        for key, value in detail.items():
            name = None if key in NON_FIELD else str(key)
            out.extend(field_errors(value, ".".join(p for p in (prefix, name) if p) or None))
        return out
    if isinstance(detail, (list, tuple)):
        out = []
        for index, value in enumerate(detail):
            # A list of messages stays on its field; a list of objects (many=True) numbers its items.
            nested = isinstance(value, (dict, list, tuple))
            out.extend(field_errors(value, f"{prefix}.{index}" if nested and prefix else prefix))
        return out
    return [{"field": prefix, "message": str(detail)}]


def summary(errors: list[dict[str, str | None]]) -> str:
    """One readable sentence from field errors: "name: This field is required. weight: …"."""
    return " ".join(f"{e['field']}: {e['message']}" if e["field"] else str(e["message"]) for e in errors)


def problem(status: int, detail: str, *, request: HttpRequest | None = None, code: str | None = None,
            errors: list[dict[str, str | None]] | None = None, title: str | None = None,
            **extensions: Any) -> dict[str, Any]:
    """The body of a problem details answer (see the module docstring)."""
    body: dict[str, Any] = {"type": "about:blank", "title": title or title_of(status), "status": status,
                            "detail": detail}
    if request is not None:
        body["instance"] = request.path
    if code:
        body["code"] = code
    if errors is not None:
        body["errors"] = errors
    body.update(extensions)
    return body


def problem_response(request: HttpRequest, status: int, detail: str, **kwargs: Any) -> JsonResponse:
    """A problem details answer made outside DRF (middleware, Django's error handlers)."""
    return JsonResponse(problem(status, detail, request=request, **kwargs), status=status,
                        content_type=PROBLEM_JSON, json_dumps_params={"ensure_ascii": False})


def wants_json(request: HttpRequest) -> bool:
    """An API path, or a client that asked for JSON (fetch with Accept: application/json)."""
    return request.path.startswith("/api/") or "json" in request.headers.get("Accept", "")


class ApiProblem(exceptions.APIException):
    """A view's refusal with its own status, code and extension members (answered as a problem)."""

    def __init__(self, detail: str, *, status: int = 400, code: str | None = None,
                 headers: dict[str, str] | None = None, **extensions: Any) -> None:
        super().__init__(detail, code)
        self.status_code = status
        self.problem_code = code
        self.headers = headers or {}
        self.extensions = extensions


def validation_problem(exc: DjangoValidationError, request: HttpRequest | None = None,
                       **extensions: Any) -> Response:
    """400 for a service's ValidationError: every message, by field where the service named one."""
    detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    errors = field_errors(detail)
    return _response(problem(400, summary(errors), request=request, code="invalid", errors=errors,
                             **extensions), request)


def _response(body: dict[str, Any], request: HttpRequest | None, headers: dict | None = None) -> Response:
    response = Response(body, status=body["status"], headers=headers)
    renderer = getattr(request, "accepted_renderer", None)
    # The browsable API (a person's browser) keeps its HTML page; JSON clients get the problem media type.
    if renderer is None or getattr(renderer, "format", "json") == "json":
        response.content_type = PROBLEM_JSON
    return response


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every error a DRF view raises, as problem details."""
    request = context.get("request")
    if isinstance(exc, DjangoValidationError):
        set_rollback()
        return validation_problem(exc, request)
    if isinstance(exc, ApiProblem):
        set_rollback()
        body = problem(exc.status_code, str(exc.detail), request=request, code=exc.problem_code, **exc.extensions)
        return _response(body, request, exc.headers)
    response = drf_exception_handler(exc, context)
    if response is None:  # not an API error: Django's 500 handler (courseapp.errors) answers
        return None
    data = response.data
    status = response.status_code
    headers = {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}
    if isinstance(exc, (Http404, DjangoPermissionDenied)) or not isinstance(exc, exceptions.APIException):
        code = "not_found" if status == 404 else "permission_denied" if status == 403 else None
    else:
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else None
    extensions: dict[str, Any] = {}
    if isinstance(exc, exceptions.ValidationError):
        errors = field_errors(data)
        codes = exc.get_codes()
        flat = field_errors(codes)
        code = flat[0]["message"] if len(flat) == 1 else "invalid"
        body = problem(status, summary(errors), request=request, code=code, errors=errors)
    else:
        detail = data.get("detail", "") if isinstance(data, dict) else summary(field_errors(data))
        wait = getattr(exc, "wait", None)
        if isinstance(exc, exceptions.Throttled) and wait is not None:
            extensions["retry_after_s"] = int(wait + 0.999)
        body = problem(status, str(detail), request=request, code=code, **extensions)
    return _response(body, request, headers)


# --- OpenAPI ---------------------------------------------------------------------------------------


class FieldErrorSerializer(serializers.Serializer):
    field = serializers.CharField(allow_null=True, help_text="The field the message is about; null: the whole "
                                                            "request")
    message = serializers.CharField(help_text="What to fix")


class ProblemSerializer(serializers.Serializer):
    """RFC 9457 problem details: every error answer of the API."""

    type = serializers.CharField(help_text="about:blank: the status code says what kind of problem it is")
    title = serializers.CharField(help_text="The status code's name")
    status = serializers.IntegerField(help_text="The HTTP status code")
    detail = serializers.CharField(help_text="What happened and what to do about it, for a person to read")
    instance = serializers.CharField(required=False, help_text="The path that was asked")
    code = serializers.CharField(required=False, help_text="A stable code for scripts (invalid, not_found, "
                                                           "permission_denied, not_authenticated, throttled, …)")
    errors = FieldErrorSerializer(many=True, required=False,  # type: ignore[assignment]
                                  help_text="Validation: each message by field")

    class Meta:
        ref_name = "Problem"


def problem_serializer(name: str, **fields: serializers.Field) -> type[serializers.Serializer]:
    """A Problem with extension members (documented as its own component)."""
    return type(name, (ProblemSerializer,), {**fields, "Meta": type("Meta", (), {"ref_name": name})})


Problem = ProblemSerializer

REFUSED = {
    401: OpenApiResponse(Problem, description="No or bad credentials (code not_authenticated)"),
    403: OpenApiResponse(Problem, description="A member whose role does not allow this; `detail` says why"),
    404: OpenApiResponse(Problem, description="Not a member of the course, or no such object"),
}
FIELD_ERRORS = {
    400: OpenApiResponse(Problem, description="What to fix: `detail`, and each message by field in `errors`"),
}
BAD = FIELD_ERRORS


def problem_media_types(result: dict, generator: Any, request: Any, public: bool) -> dict:
    """drf-spectacular post-processing hook: every 4xx/5xx answer documented as application/problem+json.

    Views document their error answers with the Problem component (or one extending it); this
    moves them to the media type the handler sends, so a view cannot document another."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict):
                continue
            for code, response in operation.get("responses", {}).items():
                content = response.get("content")
                if not str(code).startswith(("4", "5")) or not content:
                    continue
                media = content.pop("application/json", None)
                if media is not None:
                    content[PROBLEM_JSON] = media
    return result
