"""Gradebook benchmark (a measurement, not a test).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ceng501_bench .venv/bin/python bench/gradebook.py

1. A course of 10,000 students × 14 items (10 quizzes with drop-lowest-1, the final exam,
   3 project parts; CENG 501's 20/35/45 weights), about 5% missing and 1% excused grades.
   Measures the whole export (load + compute + write the CSV file) against one raw SQL
   query that fetches the same grade rows, taking turns so that a busy machine slows both
   alike, and prints both, the time of each export step, and the ratio (goal ≤ 2).
2. The gradebook page for 300 students: server time and SQL query count.

Data is created once with bulk_create and reused on later runs (--rebuild to start over).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "courseapp.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ceng501_bench")

import django  # noqa: E402

django.setup()

import datetime as dt  # noqa: E402
import random  # noqa: E402

from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries, transaction  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from courseapp.models import Course, Membership, Role, User  # noqa: E402
from grading import exports, selectors  # noqa: E402
from grading.models import Category, Grade, GradeItem, GradeState  # noqa: E402

UTC = dt.UTC


def build(code: str, n_students: int) -> Course:
    course = Course.objects.filter(code=code).first()
    if course and Membership.objects.filter(course=course, role=Role.STUDENT).count() == n_students:
        return course
    if course:
        course.delete()
    rng = random.Random(501)
    with transaction.atomic():
        course = Course.objects.create(
            code=code, number="CENG 501", title=f"Bench {n_students}", term="bench", department="CENG",
            lecture_weekday=2, lecture_start="09:40", lecture_end="11:30", lecture_room="BMB2",
            calendar_token=f"bench-{code}",
        )
        quizzes = Category.objects.create(course=course, name="Quizzes", weight=20, drop_lowest=1, position=0)
        final = Category.objects.create(course=course, name="Final exam", weight=35, position=1)
        project = Category.objects.create(course=course, name="Project", weight=45, position=2)
        due = dt.datetime(2024, 10, 9, 8, 30, tzinfo=UTC)
        items = [GradeItem(course=course, category=quizzes, name=f"Quiz {i}", points_possible=10,
                           due_at=due + dt.timedelta(weeks=i), position=i, released=True) for i in range(1, 11)]
        items.append(GradeItem(course=course, category=final, name="Final exam", points_possible=100,
                               due_at=dt.datetime(2025, 1, 15, tzinfo=UTC), released=True))
        items += [GradeItem(course=course, category=project, name=f"Project part {i}", points_possible=p,
                            due_at=dt.datetime(2025, 1, 20, tzinfo=UTC), position=i, released=True)
                  for i, p in enumerate((20, 30, 50), start=1)]
        items = GradeItem.objects.bulk_create(items)
        instructor, _ = User.objects.get_or_create(username="bench-instructor")
        Membership.objects.get_or_create(course=course, user=instructor, defaults={"role": Role.INSTRUCTOR})
        users = User.objects.bulk_create(
            [User(username=f"{code}-s{i:05d}", first_name=f"Ada{i}", last_name=f"Lovelace{i}",
                  student_number=f"{code[-3:]}{i:06d}", password="!") for i in range(n_students)],
            batch_size=2000,
        )
        Membership.objects.bulk_create([Membership(course=course, user=u, role=Role.STUDENT) for u in users],
                                       batch_size=5000)
        grades = []
        for u in users:
            for it in items:
                r = rng.random()
                if r < 0.05:
                    continue  # missing
                if r < 0.06:
                    grades.append(Grade(item=it, student=u, state=GradeState.EXCUSED))
                    continue
                pts = Decimal(rng.randint(0, int(it.points_possible) * 100)) / 100
                grades.append(Grade(item=it, student=u, raw_points=pts, points=pts))
        Grade.objects.bulk_create(grades, batch_size=10000)
    return course


def export_once(course: Course, path: str, stages: dict | None = None) -> int:
    """The whole export as the page and export_grades run it: load, compute, write the CSV file.
    `stages` (optional) collects the seconds spent in each step."""
    marks = [time.perf_counter()]
    frame = selectors.gradebook_frame(course=course)
    marks.append(time.perf_counter())
    result = frame.compute()
    letters = selectors.letters(frame, result)
    marks.append(time.perf_counter())
    table = exports.gradebook_table(frame, result, letters)
    marks.append(time.perf_counter())
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(exports.to_csv(table))
    marks.append(time.perf_counter())
    if stages is not None:
        for name, start, end in zip(STAGES, marks[:-1], marks[1:], strict=True):
            stages.setdefault(name, []).append(end - start)
    return len(table)


STAGES = ("load (SQL + frames)", "compute + letters", "table (texts)", "CSV write")


def raw_once(course: Course) -> int:
    """One raw SQL query for the same grade rows (no ORM), fetched into Python."""
    item_ids = list(GradeItem.objects.filter(course=course).values_list("id", flat=True))
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT student_id, item_id, state, points FROM grading_grade WHERE item_id = ANY(%s)", [item_ids]
        )
        return len(cursor.fetchall())


def timed(fn, repeat: int) -> tuple[float, object]:
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def interleaved(fns: dict, repeat: int) -> dict[str, list[float]]:
    """Seconds per call of each function, taking turns (a, b, a, b, ...) so that load from other
    processes on a shared machine falls on both sides of a ratio alike."""
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=10_000)
    parser.add_argument("--page-students", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    if args.rebuild:
        Course.objects.filter(code__startswith="bench-").delete()
    t0 = time.perf_counter()
    big = build("bench-10k", args.students)
    print(f"data ready in {time.perf_counter() - t0:.1f}s: {args.students} students × "
          f"{big.grade_items.count()} items, {Grade.objects.filter(item__course=big).count()} grade rows")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "export.csv")
        rows = export_once(big, path)  # warm-up (imports, caches)
        n = raw_once(big)
        stages: dict[str, list[float]] = {}
        times = interleaved({"export": lambda: export_once(big, path, stages), "raw": lambda: raw_once(big)},
                            args.repeat)
        size = os.path.getsize(path)
    t_export, t_raw = statistics.median(times["export"]), statistics.median(times["raw"])
    ratios = [e / r for e, r in zip(times["export"], times["raw"], strict=True)]
    print(f"export (load + compute + write CSV, {rows - 1} students, {size / 1e6:.1f} MB): {t_export * 1000:.0f} ms "
          f"(median of {args.repeat}, taking turns with the raw query)")
    print("  " + ", ".join(f"{name} {statistics.median(v) * 1000:.0f} ms" for name, v in stages.items()))
    print(f"raw SQL fetching the same {n} grade rows:                 {t_raw * 1000:.0f} ms")
    print(f"ratio: {t_export / t_raw:.2f} (goal ≤ 2); per turn: median {statistics.median(ratios):.2f}, "
          f"min {min(ratios):.2f}, max {max(ratios):.2f}")

    small = build("bench-300", args.page_students)
    instructor = User.objects.get(username="bench-instructor")
    client = Client()
    client.force_login(instructor)
    url = f"/courses/{small.code}/grades/"
    assert client.get(url).status_code == 200
    reset_queries()
    with CaptureQueriesContext(connection) as ctx:
        t_page, response = timed(lambda: client.get(url), args.repeat)
    print(f"gradebook page, {args.page_students} students × 14 items: {t_page * 1000:.0f} ms server time "
          f"(median of {args.repeat}), {len(ctx) // args.repeat} SQL queries, "
          f"{len(response.content) / 1e3:.0f} kB HTML")


if __name__ == "__main__":
    main()
