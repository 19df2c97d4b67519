"""Calendar events for the course's iCalendar feed: each project part's deadline."""

from __future__ import annotations

import datetime as dt

from django.urls import reverse

from courseapp.models import Course

from .models import ProjectPart

DEADLINE_EVENT = dt.timedelta(minutes=30)  # shown as a short block ending at the deadline


def course_events(course: Course) -> list[dict]:
    """One event per part with a due date, ending at the deadline (uid stable per part)."""
    events = []
    parts = (ProjectPart.objects.filter(course=course, grade_item__due_at__isnull=False)
             .select_related("project", "grade_item").order_by("grade_item__due_at", "id"))
    for part in parts:
        due = part.grade_item.due_at
        assert due is not None  # the query keeps only parts with a due date
        late = ""
        if part.grade_item.late_penalty_percent:
            late = (f" Late work loses {part.grade_item.late_penalty_percent}% "
                    f"{part.grade_item.get_late_penalty_unit_display()}.")
        events.append({
            "uid": f"project-part-{part.pk}@{course.code}.projects",
            "summary": f"{course.number} {part.name} due",
            "start": due - DEADLINE_EVENT,
            "end": due,
            "description": f"{part.project.name}: {part.name} ({part.points} points, "
                           f"{part.get_mode_display().lower()}).{late}",
            "url": reverse("projects:part", args=[course.code, part.slug]),
        })
    return events
