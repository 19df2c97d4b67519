"""``manage.py dataset_add NAME PATH --course CODE``: register a dataset version from a folder, zip or tar."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courseapp.models import Course
from projects.datasets import dataset_register
from projects.services import ProjectError


class Command(BaseCommand):
    help = "Register a folder, .zip or .tar(.gz) as a version of a course dataset (mounted at /data/NAME)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="the dataset's name, as harness.toml [data] names it")
        parser.add_argument("path", type=Path, help="a folder, .zip or .tar(.gz/.bz2/.xz)")
        parser.add_argument("--course", help="course code (optional when there is only one course)")

    def handle(self, *args, **options) -> None:
        courses = Course.objects.all()
        if options["course"]:
            courses = courses.filter(code=options["course"])
        if courses.count() != 1:
            raise CommandError("Give the course with --course CODE (codes: "
                               + ", ".join(Course.objects.values_list("code", flat=True)) + ").")
        try:
            dataset = dataset_register(course=courses.get(), name=options["name"], source=options["path"])
        except ProjectError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"dataset {dataset.name} version {dataset.version} "
                          f"({dataset.file_count} files, {dataset.size_bytes / 1e6:.1f} MB)")
