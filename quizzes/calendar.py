"""Calendar events for the course's iCalendar feed: each published quiz's open–close window."""

from __future__ import annotations

from django.urls import reverse

from courseapp.models import Course

from .models import Quiz


def course_events(course: Course) -> list[dict]:
    """One event per published quiz, from opening to closing (uid stable per quiz)."""
    events = []
    for quiz in Quiz.objects.filter(course=course, published=True).order_by("opens_at", "id"):
        limit = ""
        if quiz.time_limit:
            limit = f" Time limit: {int(quiz.time_limit.total_seconds() // 60)} minutes once started."
        events.append(
            {
                "uid": f"quiz-{quiz.pk}@{course.code}.quizzes",
                "summary": f"{course.number} quiz: {quiz.title}",
                "start": quiz.opens_at,
                "end": quiz.closes_at,
                "description": f"Open from start to end.{limit} {quiz.description}".strip(),
                "url": reverse("quizzes:detail", args=[course.code, quiz.pk]),
            }
        )
    return events
