"""Calendar events for the course's iCalendar feed: each published quiz's opening and closing.

Two point events per quiz (no DTEND: they end when they start), not one block from opening
to closing: a quiz open for a week would otherwise cover every day of the week in the
subscriber's calendar.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from django.urls import reverse

from courseapp.models import Course

from .models import Quiz


def course_events(course: Course) -> list[dict]:
    """Two events per published quiz, at opening and at closing (uids stable per quiz)."""
    events = []
    tz = ZoneInfo(course.time_zone)
    for quiz in Quiz.objects.filter(course=course, published=True).order_by("opens_at", "id"):
        limit = ""
        if quiz.time_limit:
            limit = f" Time limit: {int(quiz.time_limit.total_seconds() // 60)} minutes once started."
        url = reverse("quizzes:detail", args=[course.code, quiz.pk])
        for moment, what, uid in ((quiz.opens_at, "opens", "opens"), (quiz.closes_at, "closes", "closes")):
            events.append({
                "uid": f"quiz-{quiz.pk}-{uid}@{course.code}.quizzes",
                "summary": f"{course.number} quiz {what}: {quiz.title}",
                "start": moment,
                "end": None,
                "description": f"Open until {quiz.closes_at.astimezone(tz):%a %d %b %H:%M} ({tz.key}).{limit} {quiz.description}".strip()
                if what == "opens" else f"Closes now; answers are no longer accepted. {quiz.description}".strip(),
                "url": url,
            })
    return events
