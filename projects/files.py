"""Reading a stored submission for the staff and its team: the file tree of a zip, one file's bytes, a preview.

Nothing is ever extracted to disk: a zip is read with ``zipfile`` member by
member, and every read is capped (``MAX_MEMBER_BYTES`` to serve a member,
``MAX_TEXT_BYTES`` to highlight one), so a member that claims (or turns out) to
be huge, or compresses suspiciously well (a zip bomb), is never inflated in
memory: the viewer says "too large to preview, download instead".  Member names
are only looked up, never joined to a path; a name that would escape a folder
(``..``, absolute, drive letter, backslash, NUL) or a link entry is listed as
refused and never served.

What may be shown *inline* is decided here too (``inline_ok``): PDFs and raster
images only.  Everything else, HTML and SVG included, is served as an
attachment with ``X-Content-Type-Options: nosniff`` (projects/views.py), so a
student's page never runs in the site's origin.

Who may read a submission is not decided here: views call
``access.access_submission`` first (staff, and the submitting team).
"""

from __future__ import annotations

import dataclasses
import mimetypes
import stat
import zipfile
from pathlib import Path, PurePosixPath

from .models import Submission
from .storage import submission_abspath

MAX_MEMBERS_LISTED = 2000
MAX_MEMBER_BYTES = 25 * 1024 * 1024  # served from inside a zip; larger: download the whole submission
MAX_TEXT_BYTES = 512 * 1024  # highlighted in the page
MAX_RATIO = 100.0  # uncompressed / compressed, for members above RATIO_MIN_BYTES
RATIO_MIN_BYTES = 1024 * 1024
_CHUNK = 64 * 1024

IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp"}
PDF_TYPE = "application/pdf"
# Shown as text with highlighting (Pygments picks the lexer by name); other files are offered for download.
TEXT_SUFFIXES = frozenset({
    ".py", ".ipynb", ".txt", ".md", ".rst", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".json", ".csv", ".tsv",
    ".sh", ".c", ".h", ".cc", ".cpp", ".hpp", ".cu", ".java", ".js", ".ts", ".r", ".m", ".jl", ".tex", ".bib",
    ".html", ".htm", ".css", ".xml", ".svg", ".sql", ".log", ".out", ".err", ".makefile", ".mk", ".lua", ".go",
    ".rs", ".pyi", ".pyx", ".env", ".gitignore", ".dockerfile",
})
TEXT_NAMES = frozenset({"Makefile", "Dockerfile", "README", "LICENSE", "requirements.txt"})


class FileError(Exception):
    """Why a file cannot be shown or served; ``status`` is the HTTP answer (404 missing, 413 too large)."""

    def __init__(self, message: str, *, status: int = 404) -> None:
        super().__init__(message)
        self.status = status


@dataclasses.dataclass(frozen=True)
class Member:
    """One entry of a submitted zip, as the viewer lists it."""

    name: str  # as stored in the zip (what ``?path=`` names)
    size: int  # declared uncompressed bytes
    kind: str  # pdf, image, text or binary
    refused: str = ""  # why it is never served ("" when it may be)

    @property
    def depth(self) -> int:
        return self.name.count("/")

    @property
    def basename(self) -> str:
        return PurePosixPath(self.name).name

    @property
    def too_large(self) -> bool:
        return self.size > (MAX_TEXT_BYTES if self.kind == "text" else MAX_MEMBER_BYTES)


def kind_of(name: str) -> str:
    """pdf, image, text or binary, from the file name alone (contents are never sniffed)."""
    path = PurePosixPath(name)
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return "pdf"
    if suffix in IMAGE_TYPES:
        return "image"
    if suffix in TEXT_SUFFIXES or path.name in TEXT_NAMES:
        return "text"
    return "binary"


def content_type(name: str) -> str:
    """The Content-Type a file is served with; unknown types are application/octet-stream."""
    kind = kind_of(name)
    if kind == "pdf":
        return PDF_TYPE
    if kind == "image":
        return IMAGE_TYPES[PurePosixPath(name).suffix.lower()]
    if kind == "text":  # text is never served as HTML, JavaScript or SVG: plain text, as an attachment
        return "text/plain; charset=utf-8"
    guessed, _ = mimetypes.guess_type(name)
    return guessed if guessed and not guessed.startswith(("text/", "image/svg")) else "application/octet-stream"


def inline_ok(name: str) -> bool:
    """Whether the browser may show it inline (a PDF or a raster image); everything else is an attachment."""
    return kind_of(name) in ("pdf", "image")


def is_zip(submission: Submission) -> bool:
    return submission.path.lower().endswith(".zip")


def download_name(submission: Submission) -> str:
    """The file name offered for the whole upload: its original name, or a zip name for several files."""
    original = PurePosixPath(submission.original_name.replace("\\", "/")).name or "submission"
    if is_zip(submission) and not original.lower().endswith(".zip"):
        return f"{submission.team.name}-{submission.number}.zip".replace(" ", "-")
    return original


def stored_path(submission: Submission) -> Path:
    path = submission_abspath(submission.path)
    if not path.is_file():
        raise FileError("The stored file of this submission is missing; ask the course staff.")
    return path


def _unsafe(name: str) -> str:
    if "\x00" in name or "\\" in name:
        return "its name has a backslash or NUL"
    path = PurePosixPath(name)
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        return "its name is an absolute path"
    if any(part == ".." for part in path.parts):
        return "its name leaves the folder (..)"
    return ""


def _refusal(info: zipfile.ZipInfo) -> str:
    why = _unsafe(info.filename)
    if why:
        return why
    kind = stat.S_IFMT(info.external_attr >> 16)  # 0 when the zip tool stored no file type
    if kind and kind != stat.S_IFREG:
        return "it is a link or a special file"
    if info.flag_bits & 0x1:
        return "it is encrypted"
    if info.file_size >= RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        return "it compresses suspiciously well (a zip bomb?)"
    return ""


def members(submission: Submission) -> list[Member]:
    """The files of a zip submission (folders left out), in the zip's order, at most MAX_MEMBERS_LISTED."""
    try:
        with zipfile.ZipFile(stored_path(submission)) as zf:
            infos = zf.infolist()[:MAX_MEMBERS_LISTED]
    except (zipfile.BadZipFile, OSError):
        raise FileError("This submission's archive cannot be read; download it instead.", status=404) from None
    return [Member(name=i.filename, size=i.file_size, kind=kind_of(i.filename), refused=_refusal(i))
            for i in infos if not i.is_dir()]


def read_member(submission: Submission, name: str, *, limit: int | None = None) -> bytes:
    """The bytes of one member, read with a cap: FileError(413) when it is (or turns out to be) above ``limit``
    (default MAX_MEMBER_BYTES)."""
    limit = MAX_MEMBER_BYTES if limit is None else limit
    if _unsafe(name):
        raise FileError("No such file in this submission.")
    try:
        with zipfile.ZipFile(stored_path(submission)) as zf:
            try:
                info = zf.getinfo(name)
            except KeyError:
                raise FileError("No such file in this submission.") from None
            if info.is_dir() or _refusal(info):
                raise FileError(f"{name} is not shown: {_refusal(info) or 'it is a folder'}.")
            if info.file_size > limit:
                raise FileError(f"{name} is too large to preview; download the whole submission instead.",
                                status=413)
            out = bytearray()
            with zf.open(info) as fh:  # reads at most the declared size; the cap guards a lying header
                while chunk := fh.read(_CHUNK):
                    out += chunk
                    if len(out) > limit:
                        raise FileError(f"{name} is too large to preview; download the whole submission "
                                        "instead.", status=413)
            return bytes(out)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise FileError(f"{name} cannot be read from the archive ({type(exc).__name__}).") from None


def read_single(submission: Submission, *, limit: int | None = None) -> bytes:
    """The bytes of a one-file submission (a PDF proposal), capped like a member."""
    limit = MAX_MEMBER_BYTES if limit is None else limit
    path = stored_path(submission)
    if path.stat().st_size > limit:
        raise FileError("This file is too large to preview; download it instead.", status=413)
    return path.read_bytes()


def highlight(name: str, data: bytes) -> str:
    """``data`` as HTML with Pygments' CSS classes (no inline styles: static/projects/pygments.css).

    Undecodable bytes are replaced; the lexer is chosen by the file name, plain text when none fits.
    """
    from pygments import highlight as render
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import TextLexer, get_lexer_for_filename
    from pygments.util import ClassNotFound

    text = data.decode("utf-8", errors="replace")
    try:
        lexer = get_lexer_for_filename(PurePosixPath(name).name, stripnl=False)
    except ClassNotFound:
        lexer = TextLexer(stripnl=False)
    formatter = HtmlFormatter(cssclass="highlight", linenos="table", noclasses=False, wrapcode=True)
    return render(text, lexer, formatter)


def pygments_css() -> str:
    """The stylesheet static/projects/pygments.css is generated from (see test_files: they must agree)."""
    from pygments.formatters import HtmlFormatter

    return HtmlFormatter(style="default").get_style_defs(".highlight") + "\n"
