"""Job folders: create, copy untrusted outputs across safely, delete.

Imports no Django.  The predict step's ``outputs/`` is written by student code,
so the trusted side treats it as hostile: ``copy_outputs`` copies only regular
files, opened with O_NOFOLLOW|O_NONBLOCK and checked with fstat after lstat
(a symlink cannot make the runner read hidden data, a FIFO cannot hang it),
within caps on file count, depth and bytes.  Everything else is listed as
skipped, with a reason the score step can show.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MAX_OUTPUT_FILES = 1000
MAX_OUTPUT_BYTES = 256 * 1024 * 1024
MAX_OUTPUT_DEPTH = 8
STALE_JOB_S = 12 * 3600  # longer than any job can run (two steps of at most 4 h each)
JOB_PREFIX = "grade-"
_CHUNK = 1 << 20
_swept: set[str] = set()


@dataclasses.dataclass
class CopyReport:
    copied: list[str] = dataclasses.field(default_factory=list)
    skipped: list[dict[str, str]] = dataclasses.field(default_factory=list)  # {"path", "reason"}
    total_bytes: int = 0

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


@contextlib.contextmanager
def job_folder(work_root: Path | None = None) -> Iterator[Path]:
    """A fresh private folder for one job, deleted on exit whatever happens.

    The first call in a process also deletes job folders older than
    ``STALE_JOB_S`` left under ``work_root`` by a worker that was killed (a
    ``finally`` does not run on SIGKILL).
    """
    if work_root is not None:
        Path(work_root).mkdir(parents=True, exist_ok=True)
    root = str(work_root or tempfile.gettempdir())
    if root not in _swept:
        _swept.add(root)
        sweep_stale_jobs(Path(root))
    path = Path(tempfile.mkdtemp(prefix=JOB_PREFIX, dir=work_root))
    try:
        yield path
    finally:
        remove_tree(path)


def sweep_stale_jobs(root: Path, *, older_than_s: float = STALE_JOB_S) -> list[str]:
    """Delete ``grade-*`` folders under ``root`` not modified for ``older_than_s``."""
    removed: list[str] = []
    cutoff = time.time() - older_than_s
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        try:
            if (
                entry.name.startswith(JOB_PREFIX)
                and entry.is_dir(follow_symlinks=False)
                and entry.stat(follow_symlinks=False).st_mtime < cutoff
            ):
                remove_tree(Path(entry.path))
                removed.append(entry.name)
        except OSError:
            continue
    return removed


def remove_tree(path: Path) -> None:
    """Delete ``path`` even where a step removed permissions from its files."""

    def retry(func, failed_path, _exc) -> None:
        try:
            parent = os.path.dirname(failed_path)
            os.chmod(parent, 0o700)
            if os.path.isdir(failed_path) and not os.path.islink(failed_path):
                os.chmod(failed_path, 0o700)
            func(failed_path)
        except OSError:
            pass

    shutil.rmtree(path, onerror=retry)


def copy_outputs(
    src: Path,
    dest: Path,
    *,
    max_files: int = MAX_OUTPUT_FILES,
    max_bytes: int = MAX_OUTPUT_BYTES,
    max_depth: int = MAX_OUTPUT_DEPTH,
) -> CopyReport:
    """Copy the regular files under ``src`` to ``dest`` (created), then make ``dest`` read-only.

    A file that would pass ``max_bytes`` in total is skipped whole, not truncated,
    so the score step never sees a silently shortened file.
    """
    report = CopyReport()
    dest.mkdir(parents=True, exist_ok=True)
    try:
        src_fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        report.skipped.append({"path": ".", "reason": f"outputs/ unreadable ({exc.strerror})"})
        _make_read_only(dest)
        return report
    try:
        _copy_dir(src_fd, dest, "", 0, report, max_files, max_bytes, max_depth)
    finally:
        os.close(src_fd)
    _make_read_only(dest)
    return report


def _copy_dir(
    dir_fd: int,
    dest: Path,
    prefix: str,
    depth: int,
    report: CopyReport,
    max_files: int,
    max_bytes: int,
    max_depth: int,
) -> None:
    try:
        names = sorted(os.listdir(dir_fd))
    except OSError as exc:
        report.skipped.append({"path": prefix or ".", "reason": f"unreadable ({exc.strerror})"})
        return
    for name in names:
        rel = prefix + name
        try:
            st = os.lstat(name, dir_fd=dir_fd)
        except OSError as exc:
            report.skipped.append({"path": rel, "reason": f"unreadable ({exc.strerror})"})
            continue
        if stat.S_ISDIR(st.st_mode):
            if depth + 1 > max_depth:
                report.skipped.append({"path": rel, "reason": f"nested deeper than {max_depth}"})
                continue
            try:
                sub_fd = os.open(
                    name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd
                )
            except OSError as exc:
                report.skipped.append({"path": rel, "reason": f"unreadable ({exc.strerror})"})
                continue
            try:
                (dest / name).mkdir()
                _copy_dir(sub_fd, dest / name, rel + "/", depth + 1, report, max_files, max_bytes, max_depth)
            finally:
                os.close(sub_fd)
            continue
        if not stat.S_ISREG(st.st_mode):
            kind = "symbolic link" if stat.S_ISLNK(st.st_mode) else "not a regular file"
            report.skipped.append({"path": rel, "reason": kind})
            continue
        if len(report.copied) >= max_files:
            report.skipped.append({"path": rel, "reason": f"more than {max_files} files"})
            continue
        if report.total_bytes + st.st_size > max_bytes:
            report.skipped.append({"path": rel, "reason": f"outputs exceed {max_bytes} bytes"})
            continue
        _copy_file(dir_fd, name, st, dest / name, rel, report, max_bytes)


def _copy_file(
    dir_fd: int,
    name: str,
    st: os.stat_result,
    target: Path,
    rel: str,
    report: CopyReport,
    max_bytes: int,
) -> None:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError as exc:
        report.skipped.append({"path": rel, "reason": f"unreadable ({exc.strerror})"})
        return
    try:
        fst = os.fstat(fd)
        if not stat.S_ISREG(fst.st_mode) or (fst.st_dev, fst.st_ino) != (st.st_dev, st.st_ino):
            report.skipped.append({"path": rel, "reason": "changed while being copied"})
            return
        budget = max_bytes - report.total_bytes
        written = 0
        out_fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(out_fd, "wb") as out:
            while chunk := os.read(fd, _CHUNK):
                written += len(chunk)
                if written > budget:
                    break
                out.write(chunk)
        if written > budget:
            target.unlink()
            report.skipped.append({"path": rel, "reason": f"outputs exceed {max_bytes} bytes"})
            return
        report.copied.append(rel)
        report.total_bytes += written
    finally:
        os.close(fd)


def _make_read_only(root: Path) -> None:
    for folder, _dirs, files in os.walk(root, topdown=False):
        for name in files:
            os.chmod(os.path.join(folder, name), 0o444)
        os.chmod(folder, 0o555)
