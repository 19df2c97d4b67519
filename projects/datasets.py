"""Shared datasets of a course: register (from a path or a chunked upload), list, resolve for a harness.

A dataset is a named, content-addressed tree (``projects.runner.datasets``):
its version is the SHA-256 of its files.  The files are kept as one archive
under DATASET_ROOT (a folder is stored as an uncompressed tar); workers fetch,
verify and unpack it once per node into DATA_ROOT.

Uploads of GBs go in chunks, resumable (``upload_start`` / ``upload_chunk`` /
``upload_status`` / ``upload_finish``; the API in dataset_apis.py): the client
sends each chunk with the offset it starts at, and after a dropped connection
asks how much arrived and continues from there.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from courseapp.models import Course, User
from projects.models import Dataset
from projects.runner import datasets as rds
from projects.runner.harness import Harness
from projects.services import ProjectError

MAX_DATASET_BYTES = 200 * 1024**3
_UPLOAD_ID_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def dataset_root() -> Path:
    return Path(settings.DATASET_ROOT)


def dataset_abspath(dataset: Dataset) -> Path:
    return dataset_root() / dataset.path


def dataset_register(*, course: Course, name: str, source: Path, by: User | None = None,
                     keep_source: bool = True) -> Dataset:
    """Register the files at ``source`` (a folder, zip or tar) as a version of dataset ``name``.

    The same files registered again return the existing version.  Raises
    ProjectError saying what to fix (a bad name, links, an unreadable archive).
    ``keep_source=False`` moves an archive into the store instead of copying it
    (a finished upload).
    """
    try:
        rds.check_name(name)
    except rds.DatasetError as exc:
        raise ProjectError(str(exc)) from None
    source = Path(source)
    if not source.exists():
        raise ProjectError(f"{source} does not exist; give a folder, a .zip or a .tar(.gz) file.")
    root = dataset_root()
    staging = root / ".staging"
    staging.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=staging))
    try:
        tree = tmp / "tree"
        try:
            rds.unpack_dataset(source, tree)
            version = rds.tree_digest(tree)
        except (rds.DatasetError, OSError) as exc:
            raise ProjectError(f"Dataset {name} was refused: {exc}") from None
        files = [os.path.join(d, f) for d, _dirs, names in os.walk(tree) for f in names]
        if not files:
            raise ProjectError(f"Dataset {name} is empty; it needs at least one file.")
        size = sum(os.path.getsize(f) for f in files)
        existing = Dataset.objects.filter(course=course, name=name, version=version).first()
        if existing is not None:
            return existing
        if source.is_dir():
            suffix = ".tar"
            archive = tmp / "data.tar"
            with tarfile.open(archive, "w") as tf:
                for rel in sorted(os.path.relpath(f, tree) for f in files):
                    tf.add(tree / rel, arcname=rel, recursive=False)
        else:
            suffix = "".join(source.suffixes[-2:]) if source.suffix in (".gz", ".bz2", ".xz") else source.suffix
            archive = source
        rel = f"{course.code}/{name}/{version}{suffix or '.zip'}"
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if archive is source and keep_source:
            shutil.copyfile(source, dest)
        else:
            shutil.move(archive, dest)
        try:
            with transaction.atomic():
                return Dataset.objects.create(course=course, name=name, version=version, path=rel,
                                              size_bytes=size, file_count=len(files), uploaded_by=by,
                                              uploaded_at=timezone.now())
        except IntegrityError:  # the same files registered at the same moment by someone else
            return Dataset.objects.get(course=course, name=name, version=version)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def datasets_for(*, course: Course, harness: Harness) -> dict[str, rds.DatasetRef]:
    """The version of each dataset the harness's [data] names: the pinned one, else the newest."""
    refs: dict[str, rds.DatasetRef] = {}
    for _mount, wanted in harness.data:
        name, _, pin = wanted.partition("@")
        versions = Dataset.objects.filter(course=course, name=name).order_by("-uploaded_at", "-id")
        if pin:
            versions = versions.filter(version__startswith=pin)
        found = versions.first()
        if found is not None:
            refs[name] = rds.DatasetRef(name=name, version=found.version, source=dataset_abspath(found))
    return refs


# --- Chunked, resumable uploads -----------------------------------------------------


def _uploads() -> Path:
    path = dataset_root() / ".uploads"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _upload(course: Course, upload_id: str, by: User) -> tuple[dict, Path]:
    if not upload_id or set(upload_id) - _UPLOAD_ID_CHARS:
        raise ProjectError("No such upload.")
    meta_file = _uploads() / f"{upload_id}.json"
    if not meta_file.exists():
        raise ProjectError("No such upload; start a new one.")
    meta = json.loads(meta_file.read_text())
    if meta["course_id"] != course.pk or meta["user_id"] != by.pk:
        raise ProjectError("No such upload; start a new one.")
    return meta, _uploads() / f"{upload_id}.part"


def upload_start(*, course: Course, name: str, filename: str, size: int, by: User) -> dict:
    """Open an upload of ``size`` bytes for dataset ``name``; returns its id and the chunk size to use."""
    try:
        rds.check_name(name)
    except rds.DatasetError as exc:
        raise ProjectError(str(exc)) from None
    if not isinstance(size, int) or size <= 0 or size > MAX_DATASET_BYTES:
        raise ProjectError(f"size must be the archive's size in bytes, 1 to {MAX_DATASET_BYTES}.")
    lowered = filename.lower()
    if not lowered.endswith((".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
        raise ProjectError("Upload a .zip or a .tar (.tar.gz, .tgz, .tar.bz2, .tar.xz) of the dataset's folder.")
    upload_id = secrets.token_urlsafe(18)
    meta = {"course_id": course.pk, "user_id": by.pk, "name": name, "filename": os.path.basename(filename),
            "size": size, "started_at": timezone.now().isoformat()}
    (_uploads() / f"{upload_id}.part").touch()
    (_uploads() / f"{upload_id}.json").write_text(json.dumps(meta))
    return {"id": upload_id, "received": 0, "size": size, "chunk_bytes": chunk_bytes()}


def chunk_bytes() -> int:
    return settings.DATASET_UPLOAD_CHUNK_MB * 1024 * 1024


def upload_status(*, course: Course, upload_id: str, by: User) -> dict:
    meta, part = _upload(course, upload_id, by)
    return {"id": upload_id, "received": part.stat().st_size, "size": meta["size"], "chunk_bytes": chunk_bytes()}


def upload_chunk(*, course: Course, upload_id: str, offset: int, stream, by: User) -> dict:
    """Append the bytes of ``stream`` at ``offset``, which must equal what has arrived so far.

    A client that lost a response resends from ``upload_status``'s ``received``;
    a chunk at any other offset is refused with the offset to use.
    """
    meta, part = _upload(course, upload_id, by)
    received = part.stat().st_size
    if offset != received:
        raise ProjectError(f"This chunk starts at byte {offset}, but {received} bytes have arrived; "
                           f"send from offset {received}.")
    limit = min(chunk_bytes(), meta["size"] - received)
    written = 0
    with open(part, "ab") as out:
        while True:
            block = stream.read(1 << 20)
            if not block:
                break
            written += len(block)
            if written > limit:
                out.truncate(received)
                raise ProjectError(f"A chunk may carry at most {limit} bytes here (chunk size "
                                   f"{chunk_bytes()}, {meta['size'] - received} bytes left).")
            out.write(block)
    return {"id": upload_id, "received": received + written, "size": meta["size"], "chunk_bytes": chunk_bytes()}


def upload_finish(*, course: Course, upload_id: str, by: User) -> Dataset:
    """Register the completed upload as a dataset version; the upload is removed either way."""
    meta, part = _upload(course, upload_id, by)
    received = part.stat().st_size
    if received != meta["size"]:
        raise ProjectError(f"The upload is incomplete: {received} of {meta['size']} bytes arrived; "
                           f"send the rest from offset {received}.")
    named = part.with_name(f"{upload_id}-{meta['filename']}")
    os.rename(part, named)
    try:
        return dataset_register(course=course, name=meta["name"], source=named, by=by, keep_source=False)
    finally:
        named.unlink(missing_ok=True)
        (_uploads() / f"{upload_id}.json").unlink(missing_ok=True)
