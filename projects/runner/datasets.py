"""Shared datasets: named, content-addressed, read-only trees fetched once per node.

Imports no Django.  A dataset's *version* is ``tree_digest`` of its files (the
same scheme as a harness digest: paths and SHA-256 of contents), so the same
files give the same version whether they came zipped, tarred or as a folder.

Public API:

    DatasetRef(name, version, source)   # what a job needs; source = archive or folder in the media store
    tree_digest(folder) -> str
    unpack_dataset(source, dest)        # zip / tar(.gz/.bz2/.xz) / folder -> a plain tree
    ensure_dataset(ref, *, root) -> Path    # fetch into DATA_ROOT/<name>/<version>/, verify, reuse
    DatasetError

Layout under ``root`` (``DATA_ROOT``)::

    <name>/<version>/          the tree, read-only (0444 files, 0555 folders); never half-made:
                               unpacked into .fetch-<version>-<pid>/ and renamed once verified
    <name>/<version>.lock      flock held while fetching
    <name>/<version>/.. is what jobs mount read-only at /data/<name>; nothing is copied per job.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import re
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
CHUNK = 1 << 20
READY = ".dataset-ok"  # written last inside the tree before the rename


class DatasetError(Exception):
    """The dataset cannot be used; the message says which and why (digest mismatch, bad archive)."""


@dataclasses.dataclass(frozen=True)
class DatasetRef:
    name: str  # as in harness.toml [data]: mounted at /data/<name>
    version: str  # sha256 of its files (tree_digest)
    source: Path  # where the node fetches it from: a zip, a tar or a folder


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise DatasetError(
            f"dataset name {name!r} is not allowed: use 1-64 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit (it becomes the folder /data/<name>)."
        )
    return name


def tree_digest(folder: Path) -> str:
    """sha256 over the regular files under ``folder``: sorted relative paths and their contents' sha256."""
    folder = Path(folder)
    files = []
    for base, dirs, names in os.walk(folder):
        dirs.sort()
        for name in names:
            path = os.path.join(base, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            if rel == READY:
                continue
            st = os.lstat(path)
            if not stat.S_ISREG(st.st_mode):
                raise DatasetError(f"dataset file {rel} is not a regular file (links are not allowed)")
            files.append(rel)
    outer = hashlib.sha256()
    for rel in sorted(files):
        inner = hashlib.sha256()
        with open(folder / rel, "rb") as fh:
            while chunk := fh.read(CHUNK):
                inner.update(chunk)
        outer.update(rel.encode() + b"\0" + inner.hexdigest().encode() + b"\n")
    return outer.hexdigest()


def unpack_dataset(source: Path, dest: Path) -> None:
    """Unpack a zip, a tar or copy a folder into ``dest`` (created), refusing links and escapes.

    A single top-level folder is kept as is (``/data/cifar10/train/...`` is what
    the archive holds); ``__MACOSX/`` and ``.DS_Store`` are dropped.
    """
    source = Path(source)
    dest.mkdir(parents=True)
    if source.is_dir():
        for base, dirs, names in os.walk(source):
            rel_base = os.path.relpath(base, source)
            for d in dirs:
                if os.path.islink(os.path.join(base, d)):
                    raise DatasetError(f"dataset folder holds a link: {os.path.join(rel_base, d)}")
                (dest / rel_base / d).mkdir()
            for name in names:
                path = os.path.join(base, name)
                if not stat.S_ISREG(os.lstat(path).st_mode):
                    raise DatasetError(f"dataset folder holds a non-regular file: {os.path.join(rel_base, name)}")
                shutil.copyfile(path, dest / rel_base / name)
        return
    if zipfile.is_zipfile(source):
        with zipfile.ZipFile(source) as zf:
            for info in zf.infolist():
                rel = _safe(info.filename)
                if rel is None:
                    continue
                if (info.external_attr >> 16) & 0o170000 == stat.S_IFLNK:
                    raise DatasetError(f"dataset archive holds a link: {info.filename}")
                target = dest / rel
                if info.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
        return
    try:
        with tarfile.open(source) as tf:
            for member in tf:
                rel = _safe(member.name)
                if rel is None:
                    continue
                if member.isdir():
                    (dest / rel).mkdir(parents=True, exist_ok=True)
                    continue
                if not member.isfile():
                    raise DatasetError(f"dataset archive holds a link or special file: {member.name}")
                target = dest / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                member_file = tf.extractfile(member)
                assert member_file is not None  # a regular file: checked above
                with member_file, open(target, "wb") as out:
                    shutil.copyfileobj(member_file, out, CHUNK)
    except tarfile.TarError as exc:
        raise DatasetError(f"{source.name} is not a zip, a tar archive or a folder ({exc})") from None


def _safe(name: str) -> str | None:
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or parts[0] == "__MACOSX" or parts[-1] == ".DS_Store":
        return None
    if name.startswith("/") or ".." in parts:
        raise DatasetError(f"dataset archive path {name!r} escapes the dataset folder")
    return "/".join(parts)


@contextlib.contextmanager
def _flock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def dataset_path(ref: DatasetRef, *, root: Path) -> Path:
    return Path(root) / ref.name / ref.version


def ensure_dataset(ref: DatasetRef, *, root: Path) -> Path:
    """The dataset's read-only tree on this node, fetched and verified first if missing.

    Raises DatasetError when the fetched files do not hash to ``ref.version``
    (a corrupted or swapped archive): nothing is kept and no job sees them.
    """
    check_name(ref.name)
    target = dataset_path(ref, root=root)
    if (target / READY).exists():
        return target
    with _flock(target.with_name(f"{ref.version}.lock")):
        if (target / READY).exists():
            return target
        if not Path(ref.source).exists():
            raise DatasetError(f"dataset {ref.name} ({ref.version[:12]}): its files {ref.source} are missing "
                               "from the media store; upload it again.")
        tmp = target.with_name(f".fetch-{ref.version}-{os.getpid()}")
        _remove(tmp)
        try:
            unpack_dataset(Path(ref.source), tmp)
            got = tree_digest(tmp)
            if got != ref.version:
                raise DatasetError(
                    f"dataset {ref.name}: its files hash to {got[:12]}, not the registered version "
                    f"{ref.version[:12]}; the stored copy is corrupt or was replaced. Register it again "
                    "(manage.py dataset_add) and regrade."
                )
            (tmp / READY).write_text(ref.version + "\n")
            _make_read_only(tmp)
            _remove(target)  # a leftover without READY from a killed fetch
            os.rename(tmp, target)
        except BaseException:
            _remove(tmp)
            raise
    return target


def _make_read_only(root: Path) -> None:
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)


def _remove(path: Path) -> None:
    if not path.exists():
        return
    for folder, dirs, _files in os.walk(path):
        os.chmod(folder, 0o755)
        for d in dirs:
            os.chmod(os.path.join(folder, d), 0o755)
    shutil.rmtree(path, ignore_errors=True)
