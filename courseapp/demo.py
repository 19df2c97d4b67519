"""The CENG 501 demo course, built from courseapp/data/ceng501_2024f.json.

Placement: the syllabus is Fall 2024 (14 Wednesday lectures from 2024-10-02). `load_course(as_of=D)`
moves every lecture by whole weeks so that D falls in week 8 of 14 (weekdays, times, room and order
stay those of the syllabus); `as_of=None` keeps the real Fall 2024 dates (the tests' fixture and
`load_demo --syllabus-dates`). Other apps place their dates with `shifted(course, ...)`, which moves a
syllabus-time moment by the same number of weeks.

Idempotent: running it twice with the same placement changes nothing; asking for another placement
of a course already present raises `DemoPlacementError` (the command turns it into a clear refusal).
Other apps add their part of the demo (grade items, quizzes, project parts) through a
`demo.load(course=..., now=...)` function of their own, which `load_demo` calls after this one.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from django.db import transaction

from .models import Course, Lecture, Membership, Role, Textbook, User

DATA_FILE = Path(__file__).parent / "data" / "ceng501_2024f.json"
DEMO_PASSWORD = "ceng501-demo"
FIRST_STUDENT_NUMBER = 2380001
CURRENT_WEEK = 8  # the week of the term that the as-of date falls in
# The syllabus gives no date for the final exam (35%, on paper); the demo holds it in METU's Fall 2024
# final-exam weeks, on the lecture weekday: Wednesday 15 January 2025, 09:30–11:30 (moved with the term).
FINAL_EXAM = (2025, 1, 15, 9, 30)
FINAL_EXAM_HOURS = 2


class DemoPlacementError(Exception):
    """The demo course is already present with other dates than the ones asked for."""

TAS = [
    ("ta.ayse", "Ayşe", "Demir", "ayse.demir@metu.edu.tr"),
    ("ta.mehmet", "Mehmet", "Yılmaz", "mehmet.yilmaz@metu.edu.tr"),
]

# Forty students: a realistic mix of names; METU student numbers are seven digits.
_FIRST = [
    "Elif", "Can", "Zeynep", "Emre", "Deniz", "Burak", "Selin", "Mert", "Ece", "Kaan",
    "Defne", "Arda", "İrem", "Onur", "Duru", "Barış", "Ceren", "Ozan", "Naz", "Tolga",
    "Aylin", "Kerem", "Buse", "Efe", "Gizem", "Umut", "Melis", "Yiğit", "Sena", "Alp",
    "Ada", "Berk", "Derin", "Cem", "Ilgın", "Serkan", "Lara", "Eren", "Pelin", "Hakan",
]
_LAST = [
    "Yıldız", "Öztürk", "Aydın", "Arslan", "Doğan", "Kılıç", "Çelik", "Şahin", "Kaya", "Koç",
    "Kurt", "Özdemir", "Aslan", "Çetin", "Kara", "Erdoğan", "Güneş", "Polat", "Aksoy", "Tekin",
    "Bulut", "Korkmaz", "Uçar", "Sezer", "Tan", "Akın", "Karaca", "Bozkurt", "Yavuz", "Ateş",
    "Uysal", "Turan", "Işık", "Sarı", "Ekinci", "Ünal", "Güler", "Keskin", "Özkan", "Demirci",
]


def _ascii(text: str) -> str:
    table = str.maketrans("çğıöşüÇĞİÖŞÜ", "cgiosuCGIOSU")
    return text.translate(table).lower()


def demo_students() -> list[dict]:
    students = []
    for i, (first, last) in enumerate(zip(_FIRST, _LAST, strict=True)):
        number = f"{FIRST_STUDENT_NUMBER + i:07d}"  # e2380001 … e2380040: predictable logins
        username = f"e{number}"
        students.append(
            {
                "username": username,
                "first_name": first,
                "last_name": last,
                "email": f"{_ascii(first)}.{_ascii(last)}@metu.edu.tr",
                "student_number": number,
            }
        )
    return students


@dataclass
class DemoResult:
    course: Course
    created: bool
    logins: list[tuple[str, str, str]]  # (role, username, password)


def _user(*, username: str, password: str, **fields) -> tuple[User, bool]:
    user, created = User.objects.get_or_create(username=username, defaults=fields)
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user, created


def syllabus_first_day(data_file: Path = DATA_FILE) -> dt.date:
    data = json.loads(data_file.read_text(encoding="utf-8"))
    return dt.date.fromisoformat(data["lectures"][0]["date"])


def first_day_for(as_of: dt.date, *, weekday: int) -> dt.date:
    """The week-1 lecture day that puts `as_of` in week 8 (weeks run Monday to Sunday)."""
    monday = as_of - dt.timedelta(days=as_of.weekday())
    return monday + dt.timedelta(days=weekday) - dt.timedelta(weeks=CURRENT_WEEK - 1)


def _term_name(first: dt.date, last: dt.date) -> str:
    """"2026-2027 Fall" style, from the dates the lectures were placed on."""
    if first.month >= 8:
        season, year = ("Fall", first.year)
    elif first.month <= 5:
        season, year = ("Spring", first.year - 1)
    else:
        season, year = ("Summer", first.year - 1)
    return f"{year}-{year + 1} {season}"


def offset(course: Course) -> dt.timedelta:
    """How far (whole weeks) the course's lectures were moved from the syllabus' Fall 2024 dates."""
    first = course.lectures.order_by("starts_at").first()
    if first is None:
        return dt.timedelta(0)
    local = first.starts_at.astimezone(ZoneInfo(course.time_zone)).date()
    return local - syllabus_first_day()


def shifted(course: Course, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> dt.datetime:
    """A syllabus-time moment (Fall 2024, course-local) moved with the course's lectures."""
    local = dt.date(year, month, day) + offset(course)
    return dt.datetime.combine(local, dt.time(hour, minute), tzinfo=ZoneInfo(course.time_zone))


def now_for(as_of: dt.date | None, *, tz: str = "Europe/Istanbul") -> dt.datetime | None:
    """The moment the demo is built "as of": today's clock time on `as_of` (None: no placement)."""
    if as_of is None:
        return None
    clock = dt.datetime.now(ZoneInfo(tz)).time().replace(second=0, microsecond=0)
    return dt.datetime.combine(as_of, clock, tzinfo=ZoneInfo(tz))


@transaction.atomic
def load_course(*, data_file: Path = DATA_FILE, password: str = DEMO_PASSWORD,
                as_of: dt.date | None = None, keep_placement: bool = False) -> DemoResult:
    """Create (or find) the demo course. `as_of`: place it so that day is in week 8; None: Fall 2024.

    A course already present placed otherwise raises DemoPlacementError, unless `keep_placement`
    (the command without --as-of/--syllabus-dates: a rerun days later keeps the dates it made).
    """
    data = json.loads(data_file.read_text(encoding="utf-8"))
    info = dict(data["course"])
    tz = ZoneInfo(info["time_zone"])
    start = dt.time.fromisoformat(info.pop("lecture_start"))
    end = dt.time.fromisoformat(info.pop("lecture_end"))
    syllabus_first = dt.date.fromisoformat(data["lectures"][0]["date"])
    first = syllabus_first if as_of is None else first_day_for(as_of, weekday=info["lecture_weekday"])
    move = first - syllabus_first
    if as_of is not None:
        last = dt.date.fromisoformat(data["lectures"][-1]["date"]) + move
        info["term"] = _term_name(first, last)
    existing = Course.objects.filter(code=info["code"]).first()
    if existing is not None:
        _check_existing(existing, move=None if keep_placement else move, as_of=as_of)
    course, created = Course.objects.get_or_create(
        code=info.pop("code"),
        defaults={
            **info,
            "ects": Decimal(info["ects"]),
            "lecture_start": start,
            "lecture_end": end,
            "calendar_token": secrets.token_urlsafe(24),
        },
    )
    if created:
        for position, citation in enumerate(data["textbooks"]):
            Textbook.objects.create(course=course, citation=citation, position=position)
        for lecture in data["lectures"]:
            day = dt.date.fromisoformat(lecture["date"]) + move
            Lecture.objects.create(
                course=course,
                week=(day - first).days // 7 + 1,
                starts_at=dt.datetime.combine(day, start, tzinfo=tz),
                ends_at=dt.datetime.combine(day, end, tzinfo=tz),
                room=course.lecture_room,
                topic=lecture["topic"],
                subtopics=lecture["subtopics"],
            )
        from grading.models import Aggregation, Category

        for position, category in enumerate(data["grading"]):
            Category.objects.create(
                course=course,
                name=category["name"],
                weight=Decimal(category["weight"]),
                description=category["description"],
                aggregation=Aggregation(category["aggregation"]),
                position=position,
            )

    logins: list[tuple[str, str, str]] = []
    instructor = data["instructor"]
    user, _ = _user(
        username=instructor["username"],
        password=password,
        first_name=instructor["first_name"],
        last_name=instructor["last_name"],
        email=instructor["email"],
        is_staff=True,  # the instructor runs the course, the Django admin included
        is_superuser=True,
    )
    Membership.objects.get_or_create(
        course=course, user=user,
        defaults={"role": Role.INSTRUCTOR, "office_hours": instructor["office_hours"]},
    )
    logins.append(("instructor", user.username, password))
    for username, first_name, last_name, email in TAS:
        user, _ = _user(username=username, password=password, first_name=first_name, last_name=last_name,
                        email=email)
        Membership.objects.get_or_create(
            course=course, user=user, defaults={"role": Role.TA, "office_hours": "By appointment"}
        )
        logins.append(("ta", username, password))
    for student in demo_students():
        fields = dict(student)
        username = fields.pop("username")
        user, _ = _user(username=username, password=password, **fields)
        Membership.objects.get_or_create(course=course, user=user, defaults={"role": Role.STUDENT})
    for student in demo_students():
        logins.append(("student", student["username"], password))
    return DemoResult(course=course, created=created, logins=logins)


def _check_existing(course: Course, *, move: dt.timedelta | None, as_of: dt.date | None) -> None:
    """Refuse to mix two placements, or old accounts with the new logins, in one course."""
    placed = offset(course)
    wanted = "the syllabus' Fall 2024 dates" if as_of is None else f"{as_of:%Y-%m-%d} in week {CURRENT_WEEK}"
    first = course.lectures.order_by("starts_at").first()
    if move is not None and placed != move and first is not None:
        local = first.starts_at.astimezone(ZoneInfo(course.time_zone)).date()
        raise DemoPlacementError(
            f"The demo course {course.code} is already present, with week 1 on {local:%Y-%m-%d}; "
            f"it cannot also be placed with {wanted}. Run load_demo without --as-of/--syllabus-dates to keep "
            f"it, or start from an empty database (delete var/db.sqlite3, or drop the PostgreSQL database, "
            f"then migrate) to place it again.")
    expected = {s["username"] for s in demo_students()}
    students = set(Membership.objects.filter(course=course, role=Role.STUDENT)
                   .values_list("user__username", flat=True))
    old = sorted(u for u in students if u.startswith("e238") and u not in expected)
    if old:
        raise DemoPlacementError(
            f"The demo course {course.code} was made by an older load_demo whose student logins "
            f"({', '.join(old[:3])}, …) differ from today's e2380001 … e2380040. Start from an empty database "
            f"(delete var/db.sqlite3, or drop the PostgreSQL database, then migrate) and run load_demo again.")


def schedule_changes(course: Course) -> list[str]:
    """What a real term's schedule has beyond the syllabus, made through the course-editing services (so
    the history page and the calendar feed show them): a lecture that falls on New Year's Day (a public
    holiday in Turkey; with the syllabus' dates, week 14 on 1 January 2025) is cancelled, and the final
    exam is added as an exam session. Returns what was done, in words."""
    from . import editing
    from .models import SessionKind

    instructor = (Membership.objects.filter(course=course, role=Role.INSTRUCTOR).select_related("user")
                  .order_by("pk").first())
    if instructor is None:
        return []
    tz = ZoneInfo(course.time_zone)
    done = []
    for lecture in course.lectures.filter(kind=SessionKind.LECTURE, cancelled=False).order_by("starts_at"):
        day = lecture.starts_at.astimezone(tz).date()
        if (day.month, day.day) == (1, 1):
            editing.lecture_cancel(lecture=lecture, by=instructor.user,
                                   note="New Year's Day (1 January) is a public holiday in Turkey: no lecture.")
            done.append(f"cancelled the lecture of {day:%Y-%m-%d} (New Year's Day)")
    if not course.lectures.filter(kind=SessionKind.EXAM).exists():
        starts = shifted(course, *FINAL_EXAM)
        editing.session_create(course=course, by=instructor.user, kind=SessionKind.EXAM, starts_at=starts,
                               ends_at=starts + dt.timedelta(hours=FINAL_EXAM_HOURS), room=course.lecture_room,
                               topic="Final exam (35%, on paper)",
                               note="Closed book; bring your student ID. The room may change: watch the announcements.")
        done.append(f"added the final exam on {starts.astimezone(tz):%Y-%m-%d %H:%M}")
    return done
