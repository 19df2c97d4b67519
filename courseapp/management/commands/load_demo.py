import importlib

from django.core.management.base import BaseCommand
from django.db import transaction

from courseapp import demo
from courseapp.models import Role

# Apps that add their own part of the demo (grade items, quizzes, project parts).
DEMO_APPS = ("grading", "quizzes", "projects")


class Command(BaseCommand):
    help = "Create the CENG 501 Fall 2024-2025 demo course and accounts. Safe to run twice."

    def handle(self, *args, **options):
        with transaction.atomic():
            result = demo.load_course()
            for app in DEMO_APPS:
                try:
                    module = importlib.import_module(f"{app}.demo")
                except ModuleNotFoundError as exc:
                    if exc.name != f"{app}.demo":
                        raise
                    continue
                module.load(course=result.course)
        course = result.course
        verb = "Created" if result.created else "Already present:"
        self.stdout.write(self.style.SUCCESS(f"{verb} {course} — {course.lectures.count()} lectures, "
                                             f"{course.memberships.count()} members."))
        self.stdout.write("Demo logins (all share the same password):")
        for role, username, password in result.logins:
            self.stdout.write(f"  {role:<10} {username:<14} {password}")
        self.stdout.write(f"  (and {course.memberships.filter(role=Role.STUDENT).count()} students "
                          f"e2380001 … with the same password)")
