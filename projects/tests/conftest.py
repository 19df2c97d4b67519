"""Fixtures for the project app's Django tests (the runner and sandbox tests do not use them)."""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from grading.models import Category, GradeItem
from projects import demo, services
from projects.models import GradingMode, Project, ProjectPart

FIXTURES = Path(__file__).resolve().parent / "fixtures"
ECHO_HARNESS = FIXTURES / "echo" / "harness"
ECHO_SAMPLES = FIXTURES / "echo" / "samples"


@pytest.fixture
def roots(settings, tmp_path):
    """Private SUBMISSIONS_ROOT and HARNESS_ROOT for this test."""
    settings.SUBMISSIONS_ROOT = tmp_path / "submissions"
    settings.HARNESS_ROOT = tmp_path / "harnesses"
    return tmp_path


@pytest.fixture
def project(course, roots) -> Project:
    """The demo CENG 501 project: proposal, progress report, final code (mhsa), four teams of two.

    The first two students by username (the `student` and `other_student`
    fixtures) are team "Attention Seekers".
    """
    return demo.load(course=course)


@pytest.fixture
def echo_part(project, instructor) -> ProjectPart:
    """An autograded part (8 points) with the fast echo harness (4 tests of 1 point)."""
    return make_echo_part(project, instructor)


def make_echo_part(project: Project, instructor) -> ProjectPart:
    """The echo part of ``project`` (also for module-scoped fixtures, which cannot use ``echo_part``)."""
    category = Category.objects.get(course=project.course, name="Project")
    item = GradeItem.objects.create(course=project.course, category=category, name="Echo exercise",
                                    points_possible=Decimal("8"), due_at=None)
    part = ProjectPart.objects.create(project=project, course=project.course, slug="echo", name="Echo exercise",
                                      grade_item=item, mode=GradingMode.AUTOGRADED, position=9)
    services.harness_upload(part=part, source=ECHO_HARNESS, by=instructor, filename="echo")
    part.refresh_from_db()
    return part


@pytest.fixture
def worker_broker(tmp_path):
    """The broker of this test's real workers (realworker.choose_broker), sent to while the test runs.

    Redis with a key prefix when CELERY_BROKER_URL is Redis or local Redis answers,
    else kombu's filesystem transport in a folder of this test's own; skipped when a
    configured Redis is down, failed instead under REQUIRE_SERVICES=1 (CI tests Redis).
    """
    from . import realworker

    broker = realworker.choose_broker(tmp_path)
    try:
        with realworker.sending_to(broker):
            yield broker
    finally:
        realworker.forget(broker)


@pytest.fixture
def start_worker(worker_broker, tmp_path):
    """start_worker(name=..., queues=...) -> a running realworker.Worker; all are stopped afterwards."""
    from . import realworker

    workers = []

    def start(**kwargs):
        worker = realworker.Worker(broker=worker_broker, log_dir=tmp_path, **kwargs)
        workers.append(worker)
        worker.wait_ready()
        return worker

    yield start
    for worker in workers:
        worker.stop()


def zip_bytes(files: dict[str, bytes | str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def sample_zip(name: str) -> bytes:
    folder = ECHO_SAMPLES / name
    return zip_bytes({p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()})


def upload(name: str = "correct", *, filename: str = "submission.zip") -> SimpleUploadedFile:
    """A SimpleUploadedFile of the echo sample ``name`` zipped."""
    return SimpleUploadedFile(filename, sample_zip(name), content_type="application/zip")
