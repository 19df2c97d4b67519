"""python manage.py import_grades COURSE FILE [--dry-run] [--by USERNAME]"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from courseapp.models import Course, Membership, Role, User
from grading import services


class Command(BaseCommand):
    help = "Apply a grades CSV with the same checks as the import page (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("course")
        parser.add_argument("file")
        parser.add_argument("--dry-run", action="store_true", help="show what would change; write nothing")
        parser.add_argument("--by", help="username recorded in the history (default: the course's instructor)")
        parser.add_argument("--reason", default="CSV import (command line)")

    def handle(self, *args, course, file, dry_run, by, reason, **options):
        try:
            course_obj = Course.objects.get(code=course)
        except Course.DoesNotExist:
            raise CommandError(f"No course with code “{course}”.") from None
        if by:
            user = User.objects.filter(username=by).first()
            if user is None:
                raise CommandError(f"No user “{by}”.")
        else:
            membership = Membership.objects.filter(course=course_obj, role=Role.INSTRUCTOR).select_related("user").first()
            if membership is None:
                raise CommandError("The course has no instructor; pass --by USERNAME.")
            user = membership.user
        try:
            with open(file, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        plan = services.import_plan(course=course_obj, data=data, by=user)
        if not plan.ok:
            for error in plan.errors:
                self.stderr.write(error)
            raise CommandError(f"{len(plan.errors)} problem(s); nothing was imported.")
        for c in plan.changes:
            self.stdout.write(f"line {c.line}: {c.student_number} {c.item_name}: {c.old or '–'} → {c.new}")
        if dry_run:
            self.stdout.write(f"Dry run: {len(plan.changes)} change(s) would be applied.")
            return
        try:
            services.import_apply(course=course_obj, data=data, by=user, reason=reason)
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(self.style.SUCCESS(f"Applied {len(plan.changes)} change(s)."))
