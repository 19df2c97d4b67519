"""Environments and datasets through the course: commands, the chunked upload API, pages, runs, a real worker.

The ``slow`` tests build the test harness's real environment (tqdm + Pillow over
the worker's PyTorch) with uv; see test_environments.py for the runner's side.
"""

from __future__ import annotations

import fcntl
import io
import os
import zipfile
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from courseapp.tokens import token_create
from grading.models import Category, GradeItem
from projects import datasets, environments, services
from projects.models import (
    Dataset,
    EnvState,
    GradingMode,
    GradingRun,
    HarnessEnvironment,
    ProjectPart,
    RunStatus,
)
from projects.runner import datasets as rds
from projects.runner import environments as envs
from projects.runner.harness import load_harness

from .envdata import CORRECT, FIXTURE, make_shapes
from .test_services import WORKER

pytestmark = pytest.mark.django_db
CODE = "ceng501-2024f"


@pytest.fixture
def node(settings, tmp_path):
    """This test's own ENV_ROOT, DATA_ROOT, HARNESS_CACHE and DATASET_ROOT."""
    settings.ENV_ROOT = tmp_path / "envs"
    settings.DATA_ROOT = tmp_path / "data"
    settings.HARNESS_CACHE = tmp_path / "bundles"
    settings.DATASET_ROOT = tmp_path / "datasets"
    return tmp_path


def env_part(project, instructor, harness_dir, capture) -> ProjectPart:
    category = Category.objects.get(course=project.course, name="Project")
    item = GradeItem.objects.create(course=project.course, category=category, name="Shapes",
                                    points_possible=Decimal("4"), due_at=None)
    part = ProjectPart.objects.create(project=project, course=project.course, slug="shapes", name="Shapes",
                                      grade_item=item, mode=GradingMode.AUTOGRADED, position=9)
    with capture(execute=True):  # the upload sends the build task (eager here: it builds now)
        services.harness_upload(part=part, source=harness_dir, by=instructor, filename="shapes")
    part.refresh_from_db()
    return part


def solution_zip(code: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("solution.py", code)
    return SimpleUploadedFile("submission.zip", buffer.getvalue(), content_type="application/zip")


def register_shapes(course, tmp_path) -> Dataset:
    make_shapes(tmp_path / "shapes")
    return datasets.dataset_register(course=course, name="shapes", source=tmp_path / "shapes")


# --- datasets -----------------------------------------------------------------------------------


def test_dataset_add_registers_a_version_and_the_same_files_again_reuse_it(course, node, capsys):
    make_shapes(node / "src")
    call_command("dataset_add", "shapes", str(node / "src"), "--course", CODE)
    first = Dataset.objects.get(course=course, name="shapes")
    assert first.version == rds.tree_digest(node / "src") and first.file_count == 7
    assert f"dataset shapes version {first.version}" in capsys.readouterr().out
    call_command("dataset_add", "shapes", str(node / "src"), "--course", CODE)
    assert Dataset.objects.filter(course=course, name="shapes").count() == 1
    (node / "src" / "extra.txt").write_text("more")
    call_command("dataset_add", "shapes", str(node / "src"), "--course", CODE)
    assert Dataset.objects.filter(course=course, name="shapes").count() == 2
    with pytest.raises(CommandError, match="dataset name 'Shapes!' is not allowed"):
        call_command("dataset_add", "Shapes!", str(node / "src"), "--course", CODE)


def big_zip(path) -> bytes:
    """A dataset archive of about 2.5 MB that does not compress (so it takes three 1 MB chunks)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("train/blob.bin", os.urandom(2_500_000))
        zf.writestr("README.txt", "random bytes")
    return path.read_bytes()


def api(user):
    from django.test import Client

    token = token_create(user=user)[1]
    return Client(HTTP_AUTHORIZATION=f"Token {token}")


def test_a_chunked_upload_resumes_after_a_lost_chunk_and_registers_the_dataset(course, instructor, node,
                                                                              settings):
    settings.DATASET_UPLOAD_CHUNK_MB = 1
    data = big_zip(node / "upload.zip")
    client = api(instructor)
    base = f"/api/courses/{CODE}/datasets/uploads/"
    started = client.post(base, {"name": "noise", "filename": "noise.zip", "size": len(data)},
                          content_type="application/json")
    assert started.status_code == 201, started.content
    url, chunk = f"{base}{started.json()['id']}/", started.json()["chunk_bytes"]
    assert chunk == 1 << 20
    put = client.put(url, data[:chunk], content_type="application/octet-stream", HTTP_UPLOAD_OFFSET="0")
    assert put.status_code == 200 and put.json()["received"] == chunk
    # The client lost that response and sends the first chunk again: refused, with where to resume.
    again = client.put(url, data[:chunk], content_type="application/octet-stream", HTTP_UPLOAD_OFFSET="0")
    assert again.status_code == 400 and f"send from offset {chunk}" in again.json()["detail"]
    too_big = client.put(url, data[chunk:], content_type="application/octet-stream", HTTP_UPLOAD_OFFSET=str(chunk))
    # Refused by its declared size before the body is read (courseapp/body_limits.py), nothing stored.
    assert too_big.status_code == 413 and "at most 1 MB" in too_big.json()["detail"]
    early = client.post(f"{url}finish/")
    assert early.status_code == 400 and f"{chunk} of {len(data)} bytes arrived" in early.json()["detail"]
    received = client.get(url).json()["received"]
    while received < len(data):
        step = client.put(url, data[received:received + chunk], content_type="application/octet-stream",
                          HTTP_UPLOAD_OFFSET=str(received))
        assert step.status_code == 200, step.content
        received = step.json()["received"]
    done = client.post(f"{url}finish/")
    assert done.status_code == 201, done.content
    rds.unpack_dataset(node / "upload.zip", node / "check")
    assert done.json()["version"] == rds.tree_digest(node / "check") and done.json()["file_count"] == 2
    assert Dataset.objects.get(course=course, name="noise").version == done.json()["version"]
    assert client.get(url).status_code == 400  # the finished upload is gone
    listed = client.get(f"/api/courses/{CODE}/datasets/").json()["datasets"]
    assert [d["name"] for d in listed] == ["noise"]


def test_students_and_tas_cannot_upload_datasets_and_outsiders_do_not_see_the_course(student, ta, outsider,
                                                                                    node):
    body = {"name": "noise", "filename": "noise.zip", "size": 10}
    base = f"/api/courses/{CODE}/datasets/uploads/"
    assert api(student).post(base, body, content_type="application/json").status_code == 403
    assert api(ta).post(base, body, content_type="application/json").status_code == 403
    assert api(outsider).post(base, body, content_type="application/json").status_code == 404
    assert api(student).get(f"/api/courses/{CODE}/datasets/").status_code == 403


def test_an_upload_start_with_a_bad_name_or_type_says_what_to_fix(instructor, node):
    base = f"/api/courses/{CODE}/datasets/uploads/"
    bad_name = api(instructor).post(base, {"name": "../x", "filename": "x.zip", "size": 10},
                                    content_type="application/json")
    assert bad_name.status_code == 400 and "is not allowed" in bad_name.json()["detail"]
    bad_type = api(instructor).post(base, {"name": "x", "filename": "x.rar", "size": 10},
                                    content_type="application/json")
    assert bad_type.status_code == 400 and "Upload a .zip or a .tar" in bad_type.json()["detail"]


# --- queueing while an environment builds (no uv needed) ---------------------------------------


def test_a_run_stays_queued_while_its_environment_is_being_built_on_this_node(
    project, instructor, student, node, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setattr(environments, "environment_build", lambda **kw: None)  # the upload's build: skipped
    part = env_part(project, instructor, FIXTURE, django_capture_on_commit_callbacks)
    with django_capture_on_commit_callbacks(execute=False):
        sub = services.submission_create(part=part, user=student, uploads=[solution_zip(CORRECT)])
    run = GradingRun.objects.get(submission=sub)
    digest = envs.spec_digest(load_harness(FIXTURE).environment)
    lock = node / "envs" / f"{digest}.lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # another worker on this node is building it
        result = services.run_execute(run_id=run.pk, worker=WORKER, threaded=True)
    assert result.retry_in == environments.WAIT_S and result.status == RunStatus.QUEUED
    run.refresh_from_db()
    assert run.status == RunStatus.QUEUED and run.attempts == 0  # never graded against a half-built one


# --- real environments through the course (slow) ------------------------------------------------


@pytest.mark.slow
def test_an_environment_harness_grades_and_records_env_and_dataset_versions(
    project, instructor, student, node, django_capture_on_commit_callbacks, client_for
):
    shapes = register_shapes(project.course, node)
    part = env_part(project, instructor, FIXTURE, django_capture_on_commit_callbacks)
    env = HarnessEnvironment.objects.get(bundle=part.harness)
    assert env.state == EnvState.READY and "tqdm==4.67.1" in env.packages and env.size_bytes > 0
    assert "uv" in env.log and env.build_s is not None
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(part=part, user=student, uploads=[solution_zip(CORRECT)])
    run = GradingRun.objects.get(submission=sub)
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert run.score == 4 and run.env_digest == env.digest
    assert run.dataset_versions == {"shapes": {"name": "shapes", "version": shapes.version}}
    assert run.harness_version == part.harness.sha256

    page = client_for(instructor).get(f"/courses/{CODE}/projects/parts/shapes/harness/{part.harness.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Ready" in text and "tqdm==4.67.1" in text and shapes.version[:12] in text
    part_page = client_for(instructor).get(f"/courses/{CODE}/projects/parts/shapes/").content.decode()
    assert "Environment on" in part_page and "Ready" in part_page
    refused = client_for(student).get(f"/courses/{CODE}/projects/parts/shapes/harness/{part.harness.pk}/")
    assert refused.status_code == 403


@pytest.mark.slow
def test_a_failing_environment_is_shown_with_its_line_and_runs_end_as_harness_errors(
    project, instructor, student, node, django_capture_on_commit_callbacks, client_for
):
    register_shapes(project.course, node)
    harness = node / "bad-harness"
    import shutil

    shutil.copytree(FIXTURE, harness)
    (harness / "env" / "requirements.txt").write_text("tqdm==4.67.1\npillow==0.0.1\n")
    part = env_part(project, instructor, harness, django_capture_on_commit_callbacks)
    env = HarnessEnvironment.objects.get(bundle=part.harness)
    assert env.state == EnvState.FAILED and "env/requirements.txt line 2 (pillow==0.0.1)" in env.error
    page = client_for(instructor).get(f"/courses/{CODE}/projects/parts/shapes/harness/{part.harness.pk}/")
    assert "Failed" in page.content.decode() and "line 2 (pillow==0.0.1)" in page.content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        sub = services.submission_create(part=part, user=student, uploads=[solution_zip(CORRECT)])
    run = GradingRun.objects.get(submission=sub)
    assert run.status == RunStatus.ERROR and "line 2 (pillow==0.0.1)" in run.error
    with pytest.raises(CommandError, match="line 2"):
        call_command("harness_env", str(part.harness.pk))


@pytest.mark.slow
def test_harness_env_command_builds_and_checks_a_harness_folder(node, capsys):
    with pytest.raises(CommandError, match="is missing"):
        call_command("harness_env", str(FIXTURE), "--check")
    call_command("harness_env", str(FIXTURE))
    out = capsys.readouterr().out
    assert "is ready" in out and "tqdm==4.67.1" in out
    call_command("harness_env", str(FIXTURE), "--check")
    assert "is ready" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_builds_the_environment_then_grades_with_it(project, instructor, node, start_worker):
    """HTTP submit -> broker -> a real worker: it builds the env (run queued meanwhile), grades in the jail."""
    from .test_e2e_worker import team_members, wait_terminal

    shapes = register_shapes(project.course, node)
    worker = start_worker(extra_env={"ENV_ROOT": str(node / "envs"), "DATA_ROOT": str(node / "data"),
                                     "HARNESS_CACHE": str(node / "bundles"),
                                     "DATASET_ROOT": str(node / "datasets")})
    category = Category.objects.get(course=project.course, name="Project")
    item = GradeItem.objects.create(course=project.course, category=category, name="Shapes",
                                    points_possible=Decimal("4"), due_at=None)
    part = ProjectPart.objects.create(project=project, course=project.course, slug="shapes", name="Shapes",
                                      grade_item=item, mode=GradingMode.AUTOGRADED, position=9)
    services.harness_upload(part=part, source=FIXTURE, by=instructor, filename="shapes")
    student = team_members(project, "Attention Seekers")[0]
    response = api(student).post(f"/api/courses/{CODE}/projects/shapes/submissions/",
                                 {"file": solution_zip(CORRECT)})
    assert response.status_code == 201, response.content
    run = wait_terminal([response.json()["run"]["id"]])[response.json()["run"]["id"]]
    assert run.status == RunStatus.SUCCEEDED, (run.error, worker.log()[-3000:])
    assert run.score == 4 and run.attempts == 1
    env = HarnessEnvironment.objects.get(bundle=part.harness, state=EnvState.READY)
    assert run.env_digest == env.digest
    assert run.dataset_versions["shapes"]["version"] == shapes.version
    assert "sandbox" in run.results and run.results["sandbox"]["backend"] in ("jail", "process")
