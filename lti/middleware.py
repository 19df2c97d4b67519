"""Let the platform that launched a session frame our pages (Moodle's iframe).

X-Frame-Options is DENY for everyone else. A session started by an LTI launch
remembers the platform's origin; its responses carry `frame-ancestors 'self' <origin>`
in the site's Content-Security-Policy instead, which browsers honour over X-Frame-Options.
Placed after XFrameOptionsMiddleware and CSPMiddleware in MIDDLEWARE, so it sees the
response first and hands the directive to django-csp (``_csp_replace``).
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


class PlatformFrameMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        lti = session.get("lti") if session is not None else None
        origin = lti.get("frame_origin") if isinstance(lti, dict) else None
        if origin:
            response.xframe_options_exempt = True
            replace = dict(getattr(response, "_csp_replace", None) or {})
            replace["frame-ancestors"] = ["'self'", origin]
            # django-csp's own attribute (csp.decorators.csp_replace sets it too); HttpResponse does not declare it
            response._csp_replace = replace  # type: ignore[attr-defined]
        return response
