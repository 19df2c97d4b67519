import datetime as dt
import importlib
import inspect
from zoneinfo import ZoneInfo

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction
from django.utils import timezone

from courseapp import demo
from courseapp.models import Role, SessionKind

# Apps that add their own part of the demo (grade items, quizzes, project parts).
DEMO_APPS = ("grading", "quizzes", "projects")


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(f"--as-of {text!r}: write the date as YYYY-MM-DD, e.g. 2026-11-25.") from exc


class Command(BaseCommand):
    help = ("Create the CENG 501 demo course and accounts, placed so that today (or --as-of) is in week 8 "
            "of 14; --syllabus-dates keeps the real Fall 2024 dates. Safe to run twice.")

    def add_arguments(self, parser: CommandParser) -> None:
        when = parser.add_mutually_exclusive_group()
        when.add_argument("--as-of", type=_date, metavar="YYYY-MM-DD",
                          help="place the term so this day is in week 8 (default: today, Europe/Istanbul)")
        when.add_argument("--syllabus-dates", action="store_true",
                          help="keep the syllabus' real dates (Fall 2024: 2 Oct 2024 – 1 Jan 2025)")

    def handle(self, *args, **options):
        explicit = options["as_of"] is not None or options["syllabus_dates"]
        as_of = None if options["syllabus_dates"] else (options["as_of"] or timezone.localdate())
        now = demo.now_for(as_of)
        try:
            with transaction.atomic():
                result = demo.load_course(as_of=as_of, keep_placement=not explicit)
                # a course already present keeps what its first run made: each app's part is dated
                # relative to that run's day, so adding to it later would mix two placements
                for app in DEMO_APPS if result.created else ():
                    try:
                        module = importlib.import_module(f"{app}.demo")
                    except ModuleNotFoundError as exc:
                        if exc.name != f"{app}.demo":
                            raise
                        continue
                    if now is not None and "now" in inspect.signature(module.load).parameters:
                        module.load(course=result.course, now=now)
                    else:
                        module.load(course=result.course)
                changes = demo.schedule_changes(result.course) if result.created else []
        except demo.DemoPlacementError as exc:
            raise CommandError(str(exc)) from exc
        course = result.course
        verb = "Created" if result.created else "Already present:"
        weekly = course.lectures.filter(kind=SessionKind.LECTURE).order_by("starts_at")
        first, last = weekly.first(), weekly.last()
        self.stdout.write(self.style.SUCCESS(f"{verb} {course} — {weekly.count()} lectures "
                                             f"(+{course.lectures.count() - weekly.count()} other sessions), "
                                             f"{course.memberships.count()} members."))
        if first and last:
            if demo.offset(course).days == 0:
                placed = "the syllabus' Fall 2024 dates"
            elif result.created and as_of:
                placed = f"placed so that {as_of:%Y-%m-%d} is in week {demo.CURRENT_WEEK}"
            else:
                placed = "placed when it was first loaded"
            tz = ZoneInfo(course.time_zone)
            self.stdout.write(f"Lectures {first.starts_at.astimezone(tz):%Y-%m-%d} – "
                              f"{last.starts_at.astimezone(tz):%Y-%m-%d} "
                              f"({first.starts_at.astimezone(tz):%A}s {course.lecture_start:%H:%M}-"
                              f"{course.lecture_end:%H:%M} {course.time_zone}, {course.lecture_room}; {placed}).")
        for change in changes:
            self.stdout.write(f"Schedule: {change}.")
        self.stdout.write(f"Demo logins (all share the password {demo.DEMO_PASSWORD}):")
        students = [login for login in result.logins if login[0] == "student"]
        for role, username, password in result.logins:
            if role != "student":
                self.stdout.write(f"  {role:<10} {username:<14} {password}")
        n = course.memberships.filter(role=Role.STUDENT).count()
        self.stdout.write(f"  student    {n} accounts:")
        for i in range(0, len(students), 8):
            self.stdout.write("    " + " ".join(username for _, username, _ in students[i:i + 8]))
