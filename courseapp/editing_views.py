"""Pages that edit the course from the site (README "Editing the course").

Thin: access_* decides who may ask, a form parses, one courseapp.editing service writes.
A service's ValidationError comes back as a 400 with the form and the message.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import (
    FileResponse,
    Http404,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import access, editing, selectors
from .forms import AnnouncementForm, CancelForm, CourseForm, MaterialForm, NewSessionForm, SessionForm
from .models import Announcement, Lecture, Membership, Role
from .request_types import SignedInHttpRequest


def _schedule_url(lecture: Lecture) -> str:
    anchor = f"week-{lecture.week}" if lecture.kind == "lecture" else f"session-{lecture.pk}"
    return reverse("courseapp-schedule", args=[lecture.course.code]) + f"#{anchor}"


def _staff(course) -> list[Membership]:
    return list(Membership.objects.filter(course=course, role__in=access.STAFF_ROLES, is_active=True)
                .select_related("user").order_by("role", "user__last_name", "user__first_name"))


@login_required
@require_http_methods(["GET", "POST"])
def course_edit(request: SignedInHttpRequest, code: str) -> HttpResponse:
    course = access.access_course_as_instructor(request.user, code)
    staff = _staff(course)
    if request.method == "GET":
        books = "\n".join(book.citation for book in course.textbooks.order_by("position", "id"))
        form = CourseForm(staff=staff, initial={
            "description": course.description, "policy": course.policy, "textbook_note": course.textbook_note,
            "textbooks": books, "website": course.website, "mailing_list": course.mailing_list,
        })
        return render(request, "courseapp/course_edit.html", {"course": course, "form": form, "role": Role.INSTRUCTOR})
    form = CourseForm(request.POST, staff=staff)
    if form.is_valid():
        try:
            written = editing.course_update(course=course, by=request.user, edit=form.edit())
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Course page saved." if written else "Nothing changed.")
            return redirect("course-detail", code=course.code)
    return render(request, "courseapp/course_edit.html", {"course": course, "form": form, "role": Role.INSTRUCTOR},
                  status=400)


def _session_initial(lecture: Lecture, tz: ZoneInfo) -> dict:
    start, end = lecture.starts_at.astimezone(tz), lecture.ends_at.astimezone(tz)
    return {"date": start.date(), "start": start.time(), "end": end.time(), "room": lecture.room,
            "topic": lecture.topic, "subtopics": "\n".join(lecture.subtopics), "note": lecture.note}


def _lecture_page(request: SignedInHttpRequest, lecture: Lecture, *, form=None, cancel_form=None, material_form=None,
                  status: int = 200) -> HttpResponse:
    tz = ZoneInfo(lecture.course.time_zone)
    return render(request, "courseapp/lecture_edit.html", {
        "course": lecture.course, "lecture": lecture, "role": Role.INSTRUCTOR,
        "form": form or SessionForm(tz=tz, initial=_session_initial(lecture, tz)),
        "cancel_form": cancel_form or CancelForm(initial={"note": lecture.note}),
        "material_form": material_form or MaterialForm(),
        "materials": list(lecture.materials.all()),
    }, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def lecture_edit(request: SignedInHttpRequest, code: str, lecture_id: int) -> HttpResponse:
    """Move a session, change its room or topic; the page also cancels it and manages its materials."""
    lecture = access.access_lecture(request.user, code, lecture_id, edit=True)
    if request.method == "GET":
        return _lecture_page(request, lecture)
    form = SessionForm(request.POST, tz=ZoneInfo(lecture.course.time_zone))
    if form.is_valid():
        data = form.cleaned_data
        try:
            changed = editing.lecture_update(
                lecture=lecture, by=request.user, starts_at=data["starts_at"], ends_at=data["ends_at"],
                room=data["room"], topic=data["topic"], subtopics=data["subtopic_lines"], note=data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Session saved." if changed else "Nothing changed.")
            return HttpResponseRedirect(_schedule_url(lecture))
    return _lecture_page(request, lecture, form=form, status=400)


@login_required
@require_POST
def lecture_cancel(request: SignedInHttpRequest, code: str, lecture_id: int) -> HttpResponse:
    lecture = access.access_lecture(request.user, code, lecture_id, edit=True)
    form = CancelForm(request.POST)
    if form.is_valid():
        try:
            editing.lecture_cancel(lecture=lecture, by=request.user, note=form.cleaned_data["note"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, "Session cancelled; the page and the calendar feed show it.")
            return HttpResponseRedirect(_schedule_url(lecture))
    return _lecture_page(request, lecture, cancel_form=form, status=400)


@login_required
@require_POST
def lecture_restore(request: SignedInHttpRequest, code: str, lecture_id: int) -> HttpResponse:
    lecture = access.access_lecture(request.user, code, lecture_id, edit=True)
    try:
        editing.lecture_restore(lecture=lecture, by=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _lecture_page(request, lecture, status=400)
    messages.success(request, "The session is held again.")
    return HttpResponseRedirect(_schedule_url(lecture))


@login_required
@require_http_methods(["GET", "POST"])
def session_add(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Add an extra session or an exam (the final exam goes here, and into the calendar feed)."""
    course = access.access_course_as_instructor(request.user, code)
    tz = ZoneInfo(course.time_zone)
    context = {"course": course, "role": Role.INSTRUCTOR}
    if request.method == "GET":
        form = NewSessionForm(tz=tz, initial={"room": course.lecture_room, "start": course.lecture_start,
                                              "end": course.lecture_end})
        return render(request, "courseapp/session_add.html", {**context, "form": form})
    form = NewSessionForm(request.POST, tz=tz)
    if form.is_valid():
        data = form.cleaned_data
        try:
            lecture = editing.session_create(
                course=course, by=request.user, kind=data["kind"], starts_at=data["starts_at"],
                ends_at=data["ends_at"], room=data["room"], topic=data["topic"],
                subtopics=data["subtopic_lines"], note=data["note"],
            )
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"{lecture.get_kind_display()} added.")
            return HttpResponseRedirect(_schedule_url(lecture))
    return render(request, "courseapp/session_add.html", {**context, "form": form}, status=400)


@login_required
@require_POST
def material_add(request: SignedInHttpRequest, code: str, lecture_id: int) -> HttpResponse:
    lecture = access.access_lecture(request.user, code, lecture_id, edit=True)
    form = MaterialForm(request.POST, request.FILES)
    if form.is_valid():
        data = form.cleaned_data
        try:
            editing.material_create(lecture=lecture, by=request.user, title=data["title"], url=data["url"] or "",
                                    upload=data["file"])
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, f"Added {data['title']}.")
            return redirect("courseapp-lecture-edit", code=lecture.course.code, lecture_id=lecture.pk)
    return _lecture_page(request, lecture, material_form=form, status=400)


@login_required
@require_POST
def material_remove(request: SignedInHttpRequest, code: str, material_id: int) -> HttpResponse:
    material = access.access_material(request.user, code, material_id, edit=True)
    lecture = material.lecture
    editing.material_delete(material=material, by=request.user)
    messages.success(request, f"Removed {material.title}.")
    return redirect("courseapp-lecture-edit", code=lecture.course.code, lecture_id=lecture.pk)


@login_required
@require_GET
def material_open(request: SignedInHttpRequest, code: str, material_id: int) -> HttpResponseBase:
    """A material for a member of the course: a link redirects, a file downloads as an attachment."""
    material = access.access_material(request.user, code, material_id)
    if material.url:
        return HttpResponseRedirect(material.url)
    try:
        handle = material.file.open("rb")
    except FileNotFoundError:
        raise Http404("The file of this material is missing; tell the instructor.") from None
    response = FileResponse(handle, as_attachment=True, filename=material.original_name or "material")
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def announcements(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Every announcement of the course (members); instructors and TAs post from the same page."""
    course = access.access_course(request.user, code)
    role = access.role_in(request.user, course)
    can_post = role in access.ANNOUNCERS
    form = AnnouncementForm() if can_post else None
    status = 200
    if request.method == "POST":
        course = access.access_course_as_announcer(request.user, code)
        form = AnnouncementForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                announcement = editing.announcement_create(
                    course=course, by=request.user, title=data["title"], body=data["body"],
                    body_format=data["body_format"], email=data["email"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, "Announcement posted" + (" and e-mailed to the course." if announcement.email
                                                                    else "."))
                return redirect("courseapp-announcements", code=course.code)
        status = 400
    return render(request, "courseapp/announcements.html", {
        "course": course, "role": role, "form": form,
        "announcements": list(Announcement.objects.filter(course=course).select_related("author")),
    }, status=status)


@login_required
@require_GET
def history(request: SignedInHttpRequest, code: str) -> HttpResponse:
    """Who changed what and when on the course page, schedule, materials and announcements (staff)."""
    course = access.access_course_as_staff(request.user, code)
    return render(request, "courseapp/history.html", {
        "course": course, "role": access.role_in(request.user, course),
        "changes": selectors.course_history(course=course),
    })
