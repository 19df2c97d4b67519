"""The CENG 501 Fall 2024-2025 demo course, built from courseapp/data/ceng501_2024f.json.

Idempotent: running it twice changes nothing. Other apps add their part of the
demo (grade items, quizzes, project parts) through a `demo.load(course=...)`
function of their own, which `load_demo` calls after this one.
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
        number = f"{2380001 + i * 37:07d}"
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


@transaction.atomic
def load_course(*, data_file: Path = DATA_FILE, password: str = DEMO_PASSWORD) -> DemoResult:
    data = json.loads(data_file.read_text(encoding="utf-8"))
    info = dict(data["course"])
    tz = ZoneInfo(info["time_zone"])
    start = dt.time.fromisoformat(info.pop("lecture_start"))
    end = dt.time.fromisoformat(info.pop("lecture_end"))
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
        first = dt.date.fromisoformat(data["lectures"][0]["date"])
        for lecture in data["lectures"]:
            day = dt.date.fromisoformat(lecture["date"])
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
    for username, first, last, email in TAS:
        user, _ = _user(username=username, password=password, first_name=first, last_name=last, email=email)
        Membership.objects.get_or_create(
            course=course, user=user, defaults={"role": Role.TA, "office_hours": "By appointment"}
        )
        logins.append(("ta", username, password))
    for student in demo_students():
        fields = dict(student)
        username = fields.pop("username")
        user, _ = _user(username=username, password=password, **fields)
        Membership.objects.get_or_create(course=course, user=user, defaults={"role": Role.STUDENT})
    first_student = demo_students()[0]["username"]
    logins.append(("student", first_student, password))
    return DemoResult(course=course, created=created, logins=logins)
