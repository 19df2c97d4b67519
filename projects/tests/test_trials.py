"""Harness versions: a new upload is a candidate, test-run on a sample, then made live (with a confirmation)."""

from __future__ import annotations

import shutil

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from projects import services, trials
from projects.models import HarnessBundle, HarnessTrial, ProjectPart, TrialStatus

from .conftest import ECHO_HARNESS, sample_zip, upload, zip_bytes

pytestmark = pytest.mark.django_db

BASE = "/courses/ceng501-2024f/projects/parts/echo/harness"


def bundle_zip(tmp_path, *, version: str, break_score: bool = False) -> SimpleUploadedFile:
    folder = tmp_path / version
    shutil.copytree(ECHO_HARNESS, folder)
    toml = folder / "harness.toml"
    toml.write_text(toml.read_text().replace('version = "test-1"', f'version = "{version}"'))
    if break_score:
        (folder / "score.py").write_text("raise SystemExit('score step broken: expected.json has 4 keys')\n")
    files = {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    return SimpleUploadedFile(f"{version}.zip", zip_bytes(files), content_type="application/zip")


@pytest.fixture
def candidate(echo_part, instructor, client_for, tmp_path) -> HarnessBundle:
    live = echo_part.harness_id
    response = client_for(instructor).post(f"{BASE}/", {"harness": bundle_zip(tmp_path, version="test-2")})
    bundle = HarnessBundle.objects.get(part=echo_part, label="test-2")
    assert response.status_code == 302 and response["Location"] == f"{BASE}/{bundle.pk}/"
    echo_part.refresh_from_db()
    assert echo_part.harness_id == live  # the live version stays live
    return bundle


def test_upload_keeps_the_live_version_and_shows_the_candidate(candidate, echo_part, instructor, client_for):
    page = client_for(instructor).get(f"{BASE}/{candidate.pk}/").content.decode()
    assert 'id="candidate-note"' in page and 'id="make-live"' in page
    assert 'data-confirm="Make echo test-2 live?' in page
    live_page = client_for(instructor).get(f"{BASE}/{echo_part.harness_id}/").content.decode()
    assert 'id="live-badge"' in live_page and 'id="make-live"' not in live_page


def test_first_harness_of_a_part_goes_live_at_once(echo_part, instructor, tmp_path):
    part = ProjectPart.objects.get(pk=echo_part.pk)
    ProjectPart.objects.filter(pk=part.pk).update(harness=None)
    part.refresh_from_db()
    bundle, live = trials.harness_candidate_upload(part=part, source=bundle_zip(tmp_path, version="first"),
                                                   by=instructor, filename="first.zip")
    part.refresh_from_db()
    assert live and part.harness_id == bundle.pk


def test_test_run_grades_the_sample_and_shows_the_score(candidate, echo_part, instructor, client_for,
                                                         django_capture_on_commit_callbacks):
    client = client_for(instructor)
    sample = SimpleUploadedFile("correct.zip", sample_zip("correct"), content_type="application/zip")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{BASE}/{candidate.pk}/trial/", {"sample": sample})
    assert response.status_code == 302
    trial = HarnessTrial.objects.get(bundle=candidate)
    assert trial.status == TrialStatus.COMPLETED and trial.score == 4 and trial.max_score == 4
    assert "completed: 4 / 4" in trial.log
    page = client.get(f"{BASE}/{candidate.pk}/").content.decode()
    assert "4 / 4" in page and "correct.zip" in page
    echo_part.refresh_from_db()
    assert echo_part.harness_id != candidate.pk  # a test-run changes nothing live
    assert not echo_part.submissions.exists()


def test_a_broken_candidate_fails_its_test_run_and_says_why(echo_part, instructor, client_for, tmp_path,
                                                            django_capture_on_commit_callbacks):
    bundle, live = trials.harness_candidate_upload(
        part=echo_part, source=bundle_zip(tmp_path, version="broken", break_score=True), by=instructor,
        filename="broken.zip")
    assert not live
    with django_capture_on_commit_callbacks(execute=True):
        trial = trials.trial_create(bundle=bundle, uploads=[upload("correct")], by=instructor)
    trial.refresh_from_db()
    assert trial.status == TrialStatus.FAILED and trial.score is None
    assert "score step" in trial.error
    page = client_for(instructor).get(f"{BASE}/{bundle.pk}/").content.decode()
    assert "score step broken" in page


def test_make_live_switches_new_submissions_to_the_candidate(candidate, echo_part, instructor, student, client_for,
                                                             django_capture_on_commit_callbacks):
    response = client_for(instructor).post(f"{BASE}/{candidate.pk}/live/")
    assert response.status_code == 302
    echo_part.refresh_from_db()
    assert echo_part.harness_id == candidate.pk
    with django_capture_on_commit_callbacks(execute=True):
        submission = services.submission_create(part=echo_part, user=student, uploads=[upload("correct")])
    assert submission.runs.get().harness_id == candidate.pk


@pytest.mark.parametrize("who", ["ta", "student"])
def test_only_the_instructor_test_runs_or_makes_live(candidate, echo_part, who, request, client_for):
    client = client_for(request.getfixturevalue(who))
    sample = SimpleUploadedFile("correct.zip", sample_zip("correct"), content_type="application/zip")
    assert client.post(f"{BASE}/{candidate.pk}/trial/", {"sample": sample}).status_code == 403
    assert client.post(f"{BASE}/{candidate.pk}/live/").status_code == 403
    echo_part.refresh_from_db()
    assert echo_part.harness_id != candidate.pk and not HarnessTrial.objects.exists()


def test_a_version_of_another_part_is_not_found(candidate, project, instructor, client_for):
    other = ProjectPart.objects.get(course=project.course, slug="final-code")
    response = client_for(instructor).post(f"/courses/ceng501-2024f/projects/parts/{other.slug}/harness/"
                                           f"{candidate.pk}/live/")
    assert response.status_code == 404
    other.refresh_from_db()
    assert other.harness_id != candidate.pk


def test_a_trial_without_a_sample_says_what_to_choose(candidate, instructor, client_for):
    response = client_for(instructor).post(f"{BASE}/{candidate.pk}/trial/", follow=True)
    assert "Choose a sample submission" in response.content.decode()
    assert not HarnessTrial.objects.exists()


def test_a_sample_sent_as_loose_files_is_packed_and_graded(candidate, instructor, client_for,
                                                           django_capture_on_commit_callbacks):
    from .conftest import ECHO_SAMPLES

    folder = ECHO_SAMPLES / "correct"
    files = [SimpleUploadedFile(p.name, p.read_bytes()) for p in sorted(folder.iterdir()) if p.is_file()]
    files.append(SimpleUploadedFile("NOTES.txt", b"a second file: the upload is packed into one zip"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(instructor).post(f"{BASE}/{candidate.pk}/trial/", {"sample": files})
    assert response.status_code == 302
    trial = HarnessTrial.objects.get(bundle=candidate)
    assert trial.status == TrialStatus.COMPLETED and trial.score == 4, (trial.error, trial.log)
    assert "main.py" in trial.sample_name and "NOTES.txt" in trial.sample_name
