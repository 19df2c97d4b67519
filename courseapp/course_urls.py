"""Course pages and the course API (courses, schedule, enrollments)."""

from django.urls import path

from . import views

urlpatterns = [
    path("courses/<slug:code>/", views.course_detail, name="course-detail"),
]
