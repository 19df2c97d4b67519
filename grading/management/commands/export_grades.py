"""python manage.py export_grades COURSE [--output FILE] [--format csv|xlsx|moodle]"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from courseapp.models import Course
from grading import exports, selectors


class Command(BaseCommand):
    help = "Write a course's gradebook (CSV by default) to standard output or a file."

    def add_arguments(self, parser):
        parser.add_argument("course", help="course code, e.g. ceng501-2024f")
        parser.add_argument("--output", "-o", help="file to write (default: standard output)")
        parser.add_argument("--format", choices=["csv", "xlsx", "moodle"], default="csv")

    def handle(self, *args, course, output, format, **options):
        try:
            course_obj = Course.objects.get(code=course)
        except Course.DoesNotExist:
            raise CommandError(f"No course with code “{course}”; see the course list in the admin.") from None
        frame = selectors.gradebook_frame(course=course_obj)
        if format == "moodle":
            content: bytes | str = exports.to_csv(exports.moodle_table(frame))
        else:
            result = frame.compute()
            table = exports.gradebook_table(frame, result, selectors.letters(frame, result))
            content = exports.to_xlsx(table) if format == "xlsx" else exports.to_csv(table)
        if output:
            if isinstance(content, bytes):
                with open(output, "wb") as fh:
                    fh.write(content)
            else:
                with open(output, "w", encoding="utf-8", newline="") as text_fh:
                    text_fh.write(content)
            self.stderr.write(f"Wrote {len(frame.students)} students to {output}.")
        elif isinstance(content, bytes):
            raise CommandError("Excel output needs --output FILE.")
        else:
            self.stdout.write(content, ending="")
