"""The datasets page: who sees it, and the browser's chunked upload surviving a dropped chunk."""

from __future__ import annotations

import os
import zipfile

import pytest

from projects.models import Dataset
from projects.runner import datasets as rds

CODE = "ceng501-2024f"


@pytest.fixture
def dataset_root(settings, tmp_path):
    settings.DATASET_ROOT = tmp_path / "datasets"
    return tmp_path


@pytest.mark.django_db
def test_the_datasets_page_is_for_staff_and_only_the_instructor_gets_the_upload_form(
    client_for, instructor, ta, student, dataset_root
):
    mine = client_for(instructor).get(f"/courses/{CODE}/projects/datasets/")
    assert mine.status_code == 200 and b'id="dataset-form"' in mine.content
    theirs = client_for(ta).get(f"/courses/{CODE}/projects/datasets/")
    assert theirs.status_code == 200 and b'id="dataset-form"' not in theirs.content
    assert client_for(student).get(f"/courses/{CODE}/projects/datasets/").status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_instructor_uploads_a_dataset_in_chunks_and_a_dropped_chunk_is_resent(
    page, live_server, login, instructor, dataset_root, settings
):
    settings.DATASET_UPLOAD_CHUNK_MB = 1
    archive = dataset_root / "noise.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("train/blob.bin", os.urandom(2_500_000))
    dropped = []

    def drop_the_second_chunk(route):
        if route.request.method == "PUT" and route.request.headers.get("upload-offset") == str(1 << 20) \
                and not dropped:
            dropped.append(route.request.url)
            route.abort("connectionreset")  # as if the network failed mid-upload
            return
        route.continue_()

    login(page, live_server, instructor)
    page.route("**/datasets/uploads/**", drop_the_second_chunk)
    page.goto(f"{live_server.url}/courses/{CODE}/projects/datasets/")
    page.fill("#dataset-name", "noise")
    page.set_input_files("#dataset-file", str(archive))
    page.click("#dataset-button")
    page.wait_for_selector("#datasets td:has-text('noise')", timeout=60_000)
    assert dropped, "the second chunk was never sent"
    rds.unpack_dataset(archive, dataset_root / "check")
    stored = Dataset.objects.get(name="noise")
    assert stored.version == rds.tree_digest(dataset_root / "check") and stored.file_count == 1
