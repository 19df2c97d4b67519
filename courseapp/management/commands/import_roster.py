from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courseapp import services
from courseapp.models import Course, Role, User


class Command(BaseCommand):
    help = (
        "Import a roster CSV (student number, first name, last name, email) into a course. "
        "Prints the preview; applies it, all or nothing, unless --dry-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("course", help="course code, e.g. ceng501-2024f")
        parser.add_argument("file", type=Path, help="UTF-8 CSV file (a BOM is fine)")
        parser.add_argument("--dry-run", action="store_true", help="only show what would happen")
        parser.add_argument("--by", help="username recorded as the importer (default: the course's instructor)")

    def handle(self, *args, course: str, file: Path, dry_run: bool, by: str | None, **options):
        course_obj = Course.objects.filter(code=course).first()
        if course_obj is None:
            raise CommandError(f"No course with code {course!r}; see the admin for the codes.")
        try:
            csv_text = services.decode_roster(file.read_bytes())
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from None
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        preview = services.roster_import_preview(course=course_obj, csv_text=csv_text)
        for row in preview.rows:
            detail = f" ({'; '.join(row.changes)})" if row.changes else ""
            self.stdout.write(f"  line {row.line:>4}  {row.action:<9} {row.username:<12} "
                              f"{row.first_name} {row.last_name} <{row.email}>{detail}")
        if not preview.ok:
            for error in preview.errors:
                self.stderr.write(str(error))
            raise CommandError(f"{len(preview.errors)} problem(s); nothing imported. Fix the file and run again.")
        counts = preview.counts
        summary = (f"{counts['create']} new, {counts['enroll']} to enroll, {counts['update']} to update, "
                   f"{counts['unchanged']} unchanged")
        if dry_run:
            self.stdout.write(f"Dry run: {summary}. Nothing changed.")
            return
        importer = (User.objects.filter(username=by).first() if by else
                    User.objects.filter(memberships__course=course_obj, memberships__role=Role.INSTRUCTOR).first())
        if importer is None:
            raise CommandError("No importer: pass --by USERNAME of the course's instructor.")
        try:
            result = services.roster_import_apply(course=course_obj, csv_text=csv_text, by=importer)
        except services.RosterImportError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(self.style.SUCCESS(
            f"Imported: {result.created} new accounts, {result.enrolled} enrolled, {result.updated} updated, "
            f"{result.unchanged} unchanged."
        ))
