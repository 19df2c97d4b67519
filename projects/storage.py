"""Where submissions and harness bundles live on disk (private; never served by the web server).

Paths in the database are relative to ``settings.SUBMISSIONS_ROOT`` and
``settings.HARNESS_ROOT``, read at call time so a worker on another machine
(with the same shared volume mounted elsewhere) and the tests can move them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

from django.conf import settings

CHUNK = 1 << 20


def submissions_root() -> Path:
    return Path(settings.SUBMISSIONS_ROOT)


def harness_root() -> Path:
    return Path(settings.HARNESS_ROOT)


def submission_abspath(rel: str) -> Path:
    return submissions_root() / rel


def harness_abspath(rel: str) -> Path:
    return harness_root() / rel


def staging_dir(root: Path) -> Path:
    """A private folder under ``root`` for uploads being checked (same filesystem: moves are renames)."""
    path = root / ".staging"
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def new_staging_file(root: Path, suffix: str = "") -> Path:
    fd, name = tempfile.mkstemp(dir=staging_dir(root), suffix=suffix)
    os.close(fd)
    return Path(name)


def write_upload(upload, dest: Path) -> int:
    """Copy an uploaded file (Django UploadedFile or a binary file object) to ``dest``; returns bytes."""
    size = 0
    with open(dest, "wb") as out:
        chunks = upload.chunks(CHUNK) if hasattr(upload, "chunks") else iter(lambda: upload.read(CHUNK), b"")
        for chunk in chunks:
            size += len(chunk)
            out.write(chunk)
    return size


def zip_files(named: Iterable[tuple[str, Path]], dest: Path) -> None:
    """Write ``(name in zip, file on disk)`` pairs into a new zip at ``dest``."""
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, path in named:
            zf.write(path, arcname=name)


def zip_uploads(uploads: Iterable, names: Iterable[str], root: Path, dest: Path) -> None:
    """Pack uploaded files into a new zip at ``dest``, each under its name (the caller checked the names
    are distinct); each upload is staged under ``root`` first and removed afterwards, whatever happens."""
    parts: list[tuple[str, Path]] = []
    try:
        for upload, name in zip(uploads, names, strict=True):
            path = new_staging_file(root)
            write_upload(upload, path)
            parts.append((name, path))
        zip_files(parts, dest)
    finally:
        for _, path in parts:
            remove(path)


def zip_folder(folder: Path, dest: Path) -> None:
    """Zip the regular files under ``folder`` (links and special files are left out)."""
    files = []
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not os.path.islink(os.path.join(root, d)))
        for name in sorted(names):
            path = Path(root) / name
            if path.is_file() and not path.is_symlink():
                files.append((path.relative_to(folder).as_posix(), path))
    zip_files(files, dest)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def move_into(src: Path, root: Path, rel: str) -> Path:
    dest = root / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(src, dest)
    return dest


def remove(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
