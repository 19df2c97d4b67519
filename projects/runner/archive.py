"""Check and unpack untrusted archives (student submissions, harness bundles).

Imports no Django (see STYLE.md).  Public API:

    check_archive(path, *, max_files=..., max_bytes=..., max_ratio=...) -> ArchiveSummary
        Validate an upload before accepting it, without writing anything.
    unpack_submission(src, dest, *, max_files=..., max_bytes=..., max_ratio=...,
                      flatten_single_dir=False) -> ArchiveSummary
        Unpack a zip file, or copy a folder, into ``dest`` (created; must not
        exist or be empty).
    ArchiveError(reason, message)
        ``reason`` is a stable code (see ``Reason``); ``str(err)`` is a message
        a student can act on.

Both accept a zip file or a folder.  They refuse, with ``ArchiveError``:

* entries whose path escapes the folder (``..``), absolute paths, drive letters,
  NUL bytes, over-long names, or two entries with the same path;
* symlinks, hard links, devices and FIFOs (a zip entry's Unix mode bits; a
  folder's ``lstat``);
* more than ``max_files`` files, more than ``max_bytes`` unpacked in total;
* a zip entry whose compression ratio exceeds ``max_ratio`` (zip bombs; only
  entries above 1 MiB unpacked are checked, small files may compress well);
* encrypted, corrupt or truncated zips (CRC checked while reading) and files that
  are neither a zip nor a folder.

Mac junk (``__MACOSX/``, ``.DS_Store``) and ``__pycache__/`` entries are skipped
silently.  Unpacked files get mode 0644 and folders 0755: permission bits from the
archive are ignored, so nothing arrives executable or set-uid.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import stat
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath
from typing import IO, BinaryIO

DEFAULT_MAX_FILES = 1000
DEFAULT_MAX_BYTES = 100 * 1024 * 1024
DEFAULT_MAX_RATIO = 200.0
RATIO_CHECK_MIN_BYTES = 1024 * 1024
MAX_PATH_CHARS = 1024
MAX_NAME_CHARS = 255
_CHUNK = 1024 * 1024

_JUNK_DIRS = frozenset({"__MACOSX", "__pycache__"})
_JUNK_FILES = frozenset({".DS_Store", "Thumbs.db"})


class Reason:
    """Stable codes for ``ArchiveError.reason`` (the service may map them to UI text)."""

    NOT_AN_ARCHIVE = "not_an_archive"
    CORRUPT = "corrupt"
    ENCRYPTED = "encrypted"
    UNSAFE_PATH = "unsafe_path"
    ABSOLUTE_PATH = "absolute_path"
    DUPLICATE = "duplicate"
    SYMLINK = "symlink"
    SPECIAL_FILE = "special_file"
    TOO_MANY_FILES = "too_many_files"
    TOO_LARGE = "too_large"
    COMPRESSION_RATIO = "compression_ratio"
    EMPTY = "empty"
    DEST_NOT_EMPTY = "dest_not_empty"


class ArchiveError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True)
class ArchiveSummary:
    files: int
    total_bytes: int
    paths: tuple[str, ...]  # relative POSIX paths of the regular files, sorted


@dataclasses.dataclass(frozen=True)
class Entry:
    """One regular file of an archive or folder, validated, not yet read."""

    path: str  # relative POSIX path, normalised
    size: int  # declared size in bytes
    open: Callable[[], IO[bytes]]


@dataclasses.dataclass(frozen=True)
class _Limits:
    max_files: int
    max_bytes: int
    max_ratio: float


def _safe_relpath(name: str) -> str | None:
    """Normalise an entry name to a relative POSIX path, or None for junk.

    Raises ArchiveError for anything that could land outside the destination.
    """
    shown = name if len(name) <= 80 else name[:77] + "..."
    if "\x00" in name:
        raise ArchiveError(Reason.UNSAFE_PATH, f"Entry {shown!r} has a NUL byte in its name.")
    posix = name.replace("\\", "/")
    if posix.startswith("/") or (len(posix) >= 2 and posix[1] == ":"):
        raise ArchiveError(
            Reason.ABSOLUTE_PATH,
            f"Entry {shown!r} has an absolute path; zip the files with paths "
            "relative to your project folder.",
        )
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise ArchiveError(
            Reason.UNSAFE_PATH,
            f"Entry {shown!r} points outside the archive folder ('..'); "
            "zip the files with paths relative to your project folder.",
        )
    if not parts:
        return None
    if len(posix) > MAX_PATH_CHARS or any(len(p) > MAX_NAME_CHARS for p in parts):
        raise ArchiveError(Reason.UNSAFE_PATH, f"Entry {shown!r} has a name that is too long.")
    if any(p in _JUNK_DIRS for p in parts) or parts[-1] in _JUNK_FILES:
        return None
    if parts[-1].startswith("._") and "__MACOSX" in posix:
        return None
    return "/".join(parts)


def _check_counts(entries: list[Entry], limits: _Limits) -> None:
    if len(entries) > limits.max_files:
        raise ArchiveError(
            Reason.TOO_MANY_FILES,
            f"The archive has {len(entries)} files; at most {limits.max_files} are allowed. "
            "Leave out data sets, checkpoints and virtual environments.",
        )
    total = sum(e.size for e in entries)
    if total > limits.max_bytes:
        raise ArchiveError(
            Reason.TOO_LARGE,
            f"The archive unpacks to {_mb(total)}; at most {_mb(limits.max_bytes)} is allowed. "
            "Leave out data sets and checkpoints.",
        )
    seen: dict[str, str] = {}
    dirs = set()
    for e in entries:
        key = e.path
        if key in seen:
            raise ArchiveError(Reason.DUPLICATE, f"The archive holds {e.path!r} twice.")
        seen[key] = e.path
        parent = PurePosixPath(e.path).parent
        while str(parent) != ".":
            dirs.add(str(parent))
            parent = parent.parent
    clash = sorted(dirs & seen.keys())
    if clash:
        raise ArchiveError(
            Reason.DUPLICATE, f"The archive holds {clash[0]!r} both as a file and as a folder."
        )


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def _zip_entries(zf: zipfile.ZipFile, limits: _Limits) -> list[Entry]:
    entries: list[Entry] = []
    for info in zf.infolist():
        mode = info.external_attr >> 16
        kind = stat.S_IFMT(mode)
        rel = _safe_relpath(info.filename)
        if rel is None:
            continue
        if kind == stat.S_IFLNK:
            raise ArchiveError(
                Reason.SYMLINK,
                f"Entry {rel!r} is a symbolic link; links are not accepted, include the file itself.",
            )
        if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise ArchiveError(Reason.SPECIAL_FILE, f"Entry {rel!r} is not a regular file or folder.")
        if info.flag_bits & 0x1:
            raise ArchiveError(
                Reason.ENCRYPTED,
                f"Entry {rel!r} is encrypted; upload a zip without a password.",
            )
        if info.is_dir() or kind == stat.S_IFDIR:
            continue
        if info.compress_type not in (
            zipfile.ZIP_STORED,
            zipfile.ZIP_DEFLATED,
            zipfile.ZIP_BZIP2,
            zipfile.ZIP_LZMA,
        ):
            raise ArchiveError(
                Reason.CORRUPT,
                f"Entry {rel!r} uses an unsupported compression method; use plain zip (deflate).",
            )
        if info.file_size >= RATIO_CHECK_MIN_BYTES:
            ratio = info.file_size / max(info.compress_size, 1)
            if ratio > limits.max_ratio:
                raise ArchiveError(
                    Reason.COMPRESSION_RATIO,
                    f"Entry {rel!r} compresses {ratio:.0f}:1 (limit {limits.max_ratio:.0f}:1); "
                    "this looks like a zip bomb and was refused.",
                )
        entries.append(Entry(rel, info.file_size, functools.partial(zf.open, info)))
        if len(entries) > limits.max_files:
            break  # _check_counts reports it; stop walking a huge central directory
    return entries


def _dir_entries(root: Path, limits: _Limits) -> list[Entry]:
    entries: list[Entry] = []

    def walk(folder: Path, prefix: str) -> None:
        with os.scandir(folder) as it:
            names = sorted(it, key=lambda d: d.name)
        for d in names:
            rel = f"{prefix}{d.name}"
            st = os.lstat(d.path)
            if stat.S_ISDIR(st.st_mode):
                if d.name in _JUNK_DIRS:
                    continue
                walk(Path(d.path), rel + "/")
            elif stat.S_ISLNK(st.st_mode):
                raise ArchiveError(
                    Reason.SYMLINK,
                    f"{rel!r} is a symbolic link; links are not accepted, include the file itself.",
                )
            elif stat.S_ISREG(st.st_mode):
                if d.name in _JUNK_FILES or d.name.endswith(".pyc"):
                    continue
                entries.append(Entry(rel, st.st_size, functools.partial(_open_regular, d.path)))
                if len(entries) > limits.max_files:
                    raise ArchiveError(
                        Reason.TOO_MANY_FILES,
                        f"The folder has more than {limits.max_files} files; "
                        f"at most {limits.max_files} are allowed.",
                    )
            else:
                raise ArchiveError(Reason.SPECIAL_FILE, f"{rel!r} is not a regular file or folder.")

    walk(root, "")
    return entries


def _open_regular(path: str) -> BinaryIO:
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ArchiveError(Reason.SPECIAL_FILE, f"{path!r} is not a regular file.")
    return os.fdopen(fd, "rb")


@dataclasses.dataclass
class Source:
    entries: list[Entry]
    zf: zipfile.ZipFile | None

    def close(self) -> None:
        if self.zf is not None:
            self.zf.close()


def open_source(src: Path | str, *, max_files: int, max_bytes: int, max_ratio: float) -> Source:
    """Validate a zip or folder and list its regular files (used by harness.py too)."""
    src = Path(src)
    limits = _Limits(max_files, max_bytes, max_ratio)
    try:
        st = os.lstat(src)
    except FileNotFoundError:
        raise ArchiveError(Reason.NOT_AN_ARCHIVE, f"{str(src)!r} does not exist.") from None
    if stat.S_ISDIR(st.st_mode):
        entries = _dir_entries(src, limits)
        _check_counts(entries, limits)
        return Source(entries, None)
    if not stat.S_ISREG(st.st_mode):
        raise ArchiveError(Reason.NOT_AN_ARCHIVE, f"{src.name!r} is not a zip file or folder.")
    try:
        zf = zipfile.ZipFile(src)
    except zipfile.BadZipFile:
        raise ArchiveError(
            Reason.NOT_AN_ARCHIVE if not _looks_like_zip(src) else Reason.CORRUPT,
            f"{src.name!r} is not a readable zip file; create it again with a zip tool "
            "(tar, rar and 7z are not accepted).",
        ) from None
    except (OSError, ValueError, EOFError) as exc:
        raise ArchiveError(Reason.CORRUPT, f"{src.name!r} is a damaged zip file ({exc}).") from None
    try:
        entries = _zip_entries(zf, limits)
        _check_counts(entries, limits)
    except BaseException:
        zf.close()
        raise
    return Source(entries, zf)


def _looks_like_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(2) == b"PK"


def iter_entry_bytes(entry: Entry, budget: int) -> Iterator[bytes]:
    """Yield an entry's bytes, enforcing its declared size and the byte budget."""
    read = 0
    try:
        with entry.open() as fh:
            while chunk := fh.read(_CHUNK):
                read += len(chunk)
                if read > entry.size or read > budget:
                    raise ArchiveError(
                        Reason.TOO_LARGE,
                        f"Entry {entry.path!r} is larger than it declares; refused.",
                    )
                yield chunk
    except ArchiveError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as exc:
        raise ArchiveError(
            Reason.CORRUPT,
            f"Entry {entry.path!r} could not be read ({exc}); the zip is damaged, create it again.",
        ) from None
    except RuntimeError as exc:  # zipfile raises it for encrypted members
        raise ArchiveError(Reason.ENCRYPTED, f"Entry {entry.path!r}: {exc}") from None


def check_archive(
    path: Path | str,
    *,
    max_files: int = DEFAULT_MAX_FILES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_ratio: float = DEFAULT_MAX_RATIO,
) -> ArchiveSummary:
    """Validate a zip (or folder) without extracting it; reads every entry to check CRCs."""
    source = open_source(path, max_files=max_files, max_bytes=max_bytes, max_ratio=max_ratio)
    try:
        if not source.entries:
            raise ArchiveError(Reason.EMPTY, "The archive holds no files.")
        budget = max_bytes
        for entry in source.entries:
            for chunk in iter_entry_bytes(entry, budget):
                budget -= len(chunk)
        return _summary(source.entries)
    finally:
        source.close()


def _summary(entries: list[Entry]) -> ArchiveSummary:
    return ArchiveSummary(
        files=len(entries),
        total_bytes=sum(e.size for e in entries),
        paths=tuple(sorted(e.path for e in entries)),
    )


def write_entries(entries: list[Entry], dest: Path, *, max_bytes: int) -> None:
    """Write validated entries under ``dest`` (which must exist), never following links."""
    budget = max_bytes
    dest_fd = os.open(dest, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for entry in entries:
            *dirs, name = entry.path.split("/")
            dir_fd = os.dup(dest_fd)
            try:
                for part in dirs:
                    try:
                        os.mkdir(part, 0o755, dir_fd=dir_fd)
                    except FileExistsError:
                        pass
                    next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
                    os.close(dir_fd)
                    dir_fd = next_fd
                fd = os.open(
                    name,
                    os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                    0o644,
                    dir_fd=dir_fd,
                )
                with os.fdopen(fd, "wb") as out:
                    for chunk in iter_entry_bytes(entry, budget):
                        budget -= len(chunk)
                        out.write(chunk)
            finally:
                os.close(dir_fd)
    finally:
        os.close(dest_fd)


def unpack_submission(
    src: Path | str,
    dest: Path | str,
    *,
    max_files: int = DEFAULT_MAX_FILES,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_ratio: float = DEFAULT_MAX_RATIO,
    flatten_single_dir: bool = False,
) -> ArchiveSummary:
    """Unpack a zip, or copy a folder, into ``dest``; refuse anything unsafe.

    ``dest`` is created if missing and must be empty.  With ``flatten_single_dir``,
    an archive whose files all sit in one top-level folder (students often zip
    the folder, not its contents) is unpacked without that folder.  On error,
    ``dest`` may hold part of the files; the caller deletes its workspace.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ArchiveError(Reason.DEST_NOT_EMPTY, f"{str(dest)!r} is not empty.")
    source = open_source(src, max_files=max_files, max_bytes=max_bytes, max_ratio=max_ratio)
    try:
        entries = source.entries
        if not entries:
            raise ArchiveError(Reason.EMPTY, "The submission holds no files.")
        if flatten_single_dir:
            entries = _flatten(entries)
        write_entries(entries, dest, max_bytes=max_bytes)
        return _summary(entries)
    finally:
        source.close()


def _flatten(entries: list[Entry]) -> list[Entry]:
    tops = {e.path.split("/", 1)[0] for e in entries}
    if len(tops) != 1 or any("/" not in e.path for e in entries):
        return entries
    return [dataclasses.replace(e, path=e.path.split("/", 1)[1]) for e in entries]
