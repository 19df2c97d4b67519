"""Reads for the course pages, the feed and the API: a few queries each, never one per row."""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Case, Count, Q, QuerySet, Value, When

from . import calculations, ical
from .models import Announcement, Course, CourseChange, Lecture, Membership, Role, SessionKind, Textbook, User

logger = logging.getLogger(__name__)

# Apps whose `<app>.calendar.course_events(course)` add events to the course feed.
CALENDAR_APPS = ("grading", "quizzes", "projects")


def course_tz(course: Course) -> ZoneInfo:
    return ZoneInfo(course.time_zone)


def course_today(course: Course, now: dt.datetime) -> dt.date:
    """The date it is in the course's time zone at the aware instant `now`."""
    return now.astimezone(course_tz(course)).date()


@dataclass(frozen=True)
class ScheduleRow:
    lecture: Lecture
    start: dt.datetime  # in the course's time zone
    end: dt.datetime
    is_current: bool
    is_past: bool


@dataclass(frozen=True)
class Schedule:
    rows: list[ScheduleRow]
    current: ScheduleRow | None  # the lecture of the week containing `today`, if any
    upcoming: ScheduleRow | None  # the first lecture that has not ended


def course_schedule(*, course: Course, now: dt.datetime) -> Schedule:
    """Every session in date order with its materials, marking the current week's one (two queries).

    "Current" is the session held in the Monday–Sunday week (in the course's time
    zone) that contains `now`; there is none before the first lecture's week, after
    the last one's, or in a week with no session. Cancelled sessions are listed (struck
    through on the page) but are never current or upcoming.
    """
    tz = course_tz(course)
    lectures = list(Lecture.objects.filter(course=course).order_by("starts_at", "id").prefetch_related("materials"))
    starts = [lecture.starts_at.astimezone(tz) for lecture in lectures]
    ends = [lecture.ends_at.astimezone(tz) for lecture in lectures]
    held = [index for index, lecture in enumerate(lectures) if not lecture.cancelled]
    current = calculations.current_lecture_index([starts[i].date() for i in held], course_today(course, now))
    upcoming = calculations.next_lecture_index([ends[i] for i in held], now)
    current = held[current] if current is not None else None
    upcoming = held[upcoming] if upcoming is not None else None
    rows = [
        ScheduleRow(lecture=lecture, start=start, end=end, is_current=index == current, is_past=end <= now)
        for index, (lecture, start, end) in enumerate(zip(lectures, starts, ends, strict=True))
    ]
    return Schedule(
        rows=rows,
        current=rows[current] if current is not None else None,
        upcoming=rows[upcoming] if upcoming is not None else None,
    )


def recent_announcements(*, course: Course, limit: int = 5) -> list[Announcement]:
    """The course's latest announcements with their authors (one query)."""
    return list(Announcement.objects.filter(course=course).select_related("author")[:limit])


def course_history(*, course: Course, limit: int = 500) -> list[CourseChange]:
    """The course's edit history, newest first, with who made each change (one query)."""
    return list(CourseChange.objects.filter(course=course).select_related("changed_by")[:limit])


@dataclass(frozen=True)
class Syllabus:
    staff: list[Membership]  # instructors first, then TAs, with their users
    textbooks: list[Textbook]
    grading: list  # grading.models.Category rows, in their order
    grading_total: Decimal  # sum of the category weights, in percent (100 when complete)


def course_syllabus(*, course: Course) -> Syllabus:
    """Staff, textbooks and the published grading policy (three queries)."""
    from grading.models import Category

    staff = list(
        Membership.objects.filter(course=course, role__in=[Role.INSTRUCTOR, Role.TA], is_active=True)
        .select_related("user")
        .order_by("role", "user__last_name", "user__first_name")  # "instructor" < "ta"
    )
    categories = list(Category.objects.filter(course=course).order_by("position", "id"))
    return Syllabus(
        staff=staff,
        textbooks=list(Textbook.objects.filter(course=course).order_by("position")),
        grading=categories,
        grading_total=sum((c.weight for c in categories), start=Decimal(0)),
    )


def course_enrollments(*, course: Course, role: str | None = None) -> QuerySet[Membership]:
    """Active memberships with their users (one query): staff first, then students by name."""
    memberships = Membership.objects.filter(course=course, is_active=True).select_related("user")
    if role is not None:
        memberships = memberships.filter(role=role)
    rank = Case(
        When(role=Role.INSTRUCTOR, then=Value(0)), When(role=Role.TA, then=Value(1)), default=Value(2)
    )
    return memberships.order_by(rank, "user__last_name", "user__first_name", "user__username")


def enrollment_counts(*, course: Course) -> dict[str, int]:
    """Active members per role, e.g. {"instructor": 1, "ta": 2, "student": 40} (one query)."""
    rows = Membership.objects.filter(course=course, is_active=True).values("role").annotate(n=Count("id"))
    counts = {role.value: 0 for role in Role}
    counts.update({row["role"]: row["n"] for row in rows})
    return counts


@dataclass(frozen=True)
class StudentPanel:
    """What a student needs today in one course: their own rows only."""

    open_quizzes: list[dict]  # quizzes.selectors.open_quizzes_for_student rows
    deadlines: list  # grading GradeItems due next, with .quiz / .project_part when they have one
    recent_grades: list  # the student's own Grade rows on released items


@dataclass(frozen=True)
class StaffPanel:
    """What waits for the course staff; `health` only for the instructor."""

    essays: list[dict]  # quizzes.selectors.essays_waiting rows
    rubric: list[dict]  # projects.selectors.rubric_waiting rows
    failed_runs: list[dict]  # projects.selectors.failed_runs rows
    deadlines: list
    health: dict | None = None  # teamless (rows), failed_runs (count), unreleased (item names past due)

    @property
    def waiting(self) -> int:
        return (sum(r["pending"] for r in self.essays) + sum(r["teams"] for r in self.rubric)
                + sum(r["submissions"] for r in self.failed_runs))


@dataclass(frozen=True)
class DashboardCard:
    course: Course
    role: str  # the person's role; superusers who are not members act as instructors
    next_lecture: Lecture | None
    students: int
    student: StudentPanel | None = None
    staff: StaffPanel | None = None


def student_panel(*, course: Course, student: User, now: dt.datetime) -> StudentPanel:
    """Open quizzes with time left, next deadlines and recent grades: the student's own data only."""
    from grading import selectors as grading
    from quizzes import selectors as quizzes

    return StudentPanel(
        open_quizzes=quizzes.open_quizzes_for_student(course=course, student=student, now=now),
        deadlines=grading.upcoming_deadlines(course=course, now=now),
        recent_grades=grading.recent_grades(course=course, student=student),
    )


def staff_panel(*, course: Course, now: dt.datetime, instructor: bool) -> StaffPanel:
    """What waits for grading (essays, rubric parts, runs in error), and for the instructor the health."""
    from grading import selectors as grading
    from grading.models import GradeItem
    from projects import selectors as projects
    from quizzes import selectors as quizzes

    failed = projects.failed_runs(course=course)
    health = None
    if instructor:
        health = {
            "teamless": [r for r in projects.teamless_counts(course=course) if r["students"]],
            "failed_runs": sum(r["submissions"] for r in failed),
            "unreleased": list(GradeItem.objects.filter(course=course, released=False, due_at__lt=now)
                               .order_by("due_at").values_list("name", flat=True)),
        }
    return StaffPanel(essays=quizzes.essays_waiting(course=course), rubric=projects.rubric_waiting(course=course),
                      failed_runs=failed, deadlines=grading.upcoming_deadlines(course=course, now=now, limit=3),
                      health=health)


def dashboard_cards(*, user: User, now: dt.datetime) -> list[DashboardCard]:
    """The person's courses with their next lecture and student count (three queries), and per course what
    the person's role needs: a student's open quizzes, deadlines and grades; what waits for the staff."""
    from .access import courses_of

    courses = list(
        courses_of(user).annotate(
            n_students=Count(
                "memberships", filter=Q(memberships__role=Role.STUDENT, memberships__is_active=True),
                distinct=True,
            )
        ).order_by("number", "term")
    )
    upcoming: dict[int, Lecture] = {}
    for lecture in Lecture.objects.filter(course__in=courses, ends_at__gt=now, cancelled=False).order_by("-starts_at"):
        upcoming[lecture.course_id] = lecture  # the earliest one wins: rows come latest first
    cards = []
    for course in courses:
        role = getattr(course, "my_role", None) or Role.INSTRUCTOR
        cards.append(DashboardCard(
            course=course, role=role, next_lecture=upcoming.get(course.pk), students=course.n_students,
            student=student_panel(course=course, student=user, now=now) if role == Role.STUDENT else None,
            staff=(staff_panel(course=course, now=now, instructor=role == Role.INSTRUCTOR)
                   if role in (Role.TA, Role.INSTRUCTOR) else None),
        ))
    return cards


def lecture_event(*, course: Course, lecture: Lecture, url: str = "") -> ical.Event:
    """The feed's VEVENT for one session; UID stays the same as long as the lecture row does.

    A moved session keeps its UID with the new time and room and a higher SEQUENCE, so
    subscribed calendars move it; a cancelled one stays with STATUS:CANCELLED (clients
    strike it through or drop it) and its reason in the description.
    """
    lines = [f"• {subtopic}" for subtopic in lecture.subtopics]
    heading = f"Week {lecture.week}" if lecture.kind == SessionKind.LECTURE else lecture.get_kind_display()
    if lecture.cancelled:
        lines.insert(0, "Cancelled" + (f": {lecture.note}" if lecture.note else "."))
    elif lecture.note:
        lines.insert(0, lecture.note)
    if lecture.is_moved and lecture.planned_starts_at is not None:
        planned = lecture.planned_starts_at.astimezone(course_tz(course))
        lines.append(f"Moved from {planned:%a %d %b %H:%M}, {lecture.planned_room or lecture.room}.")
    summary = f"{course.number}: {lecture.topic}"
    return ical.Event(
        uid=f"{course.code}-lecture-{lecture.pk}@courseapp",
        summary=f"Cancelled: {summary}" if lecture.cancelled else summary,
        start=lecture.starts_at,
        end=lecture.ends_at,
        description="\n".join([heading, *lines]),
        location=lecture.room,
        url=url,
        status="CANCELLED" if lecture.cancelled else "CONFIRMED",
        sequence=lecture.sequence,
    )


def _app_events(course: Course, base_url: str) -> list[ical.Event]:
    """Events from `<app>.calendar.course_events(course)` of the apps that provide one.

    An app whose events fail to load is logged and left out, so the lectures (and the
    other apps' events) still reach subscribers.
    """
    events = []
    for app in CALENDAR_APPS:
        try:
            module = importlib.import_module(f"{app}.calendar")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app}.calendar":
                logger.exception("calendar module of %s failed to import", app)
            continue
        try:
            for item in module.course_events(course):
                url = item.get("url") or ""
                if url.startswith("/"):
                    url = base_url.rstrip("/") + url
                events.append(
                    ical.Event(
                        uid=str(item["uid"]), summary=str(item["summary"]), start=item["start"],
                        end=item.get("end"), description=str(item.get("description") or ""), url=url,
                    )
                )
        except Exception:
            logger.exception("calendar events of %s for %s failed", app, course.code)
    return events


def course_calendar(*, course: Course, base_url: str, now: dt.datetime) -> str:
    """The course's iCalendar feed text: every lecture plus the other apps' events.

    `base_url` (e.g. "https://host") makes lecture and event links absolute.
    """
    schedule_url = f"{base_url.rstrip('/')}/courses/{course.code}/schedule/"
    events = [
        lecture_event(course=course, lecture=lecture, url=schedule_url)
        for lecture in Lecture.objects.filter(course=course).order_by("starts_at")
    ]
    events += _app_events(course, base_url)
    return ical.calendar(
        name=f"{course.number} {course.title} ({course.term})",
        tz=course_tz(course),
        events=events,
        stamp=now,
        prodid="-//METU CENG//Course site//EN",
    )
