"""Server-rendered course pages. Thin: parse, call an access_/selector, render."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from . import access


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    courses = access.courses_of(request.user).order_by("number")
    return render(request, "courseapp/dashboard.html", {"courses": courses})


@login_required
def course_detail(request: HttpRequest, code: str) -> HttpResponse:
    course = access.access_course(request.user, code)
    return render(
        request,
        "courseapp/course_detail.html",
        {"course": course, "role": access.role_in(request.user, course)},
    )


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for the load balancer and `make run`: the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})
