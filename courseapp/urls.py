from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from . import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema", template_name="api/redoc.html"), name="api-redoc"),
    path("", include("courseapp.course_urls")),
    path("", include("grading.urls")),
    path("", include("quizzes.urls")),
    path("", include("projects.urls")),
    path("", include("lti.urls")),
]

# JSON for /api/ paths (a non-integer id matches no pattern), the HTML pages elsewhere.
handler404 = "courseapp.errors.not_found"
handler500 = "courseapp.errors.server_error"
