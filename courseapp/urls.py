from csp.decorators import csp_update
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.utils.functional import lazy
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerSplitView

from . import views

API_DOCS_CSP = csp_update({"style-src": ["'unsafe-inline'"], "worker-src": ["'self'", "blob:"]})

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    # Browsers ask for /favicon.ico whatever the page's <link rel="icon"> says: the static file, not a 404.
    path("favicon.ico", RedirectView.as_view(url=lazy(static, str)("courseapp/favicon.ico"), permanent=True), name="favicon"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file, so no inline script runs; both
    # viewers set styles at run time (inline <style>), which their pages alone allow.
    path("api/docs/", API_DOCS_CSP(SpectacularSwaggerSplitView.as_view(url_name="api-schema")), name="api-docs"),
    path("api/redoc/", API_DOCS_CSP(SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html")),
         name="api-redoc"),
    path("", include("courseapp.course_urls")),
    path("", include("grading.urls")),
    path("", include("quizzes.urls")),
    path("", include("projects.urls")),
    path("", include("lti.urls")),
]

# JSON for /api/ paths (a non-integer id matches no pattern; courseapp.errors), the HTML pages elsewhere.
handler403 = "courseapp.error_pages.permission_denied"
handler404 = "courseapp.error_pages.not_found"
handler500 = "courseapp.error_pages.server_error"
