"""Submission archives: every refusal has a reason code and a message a student can act on."""

from __future__ import annotations

import os
import stat
import tempfile
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projects.runner.archive import ArchiveError, Reason, check_archive, unpack_submission


def make_zip(path: Path, entries: dict[str, bytes], *, compression=zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def refused(src: Path, **kwargs) -> ArchiveError:
    with pytest.raises(ArchiveError) as info:
        check_archive(src, **kwargs)
    with pytest.raises(ArchiveError) as again:
        unpack_submission(src, src.parent / "dest", **kwargs)
    assert again.value.reason == info.value.reason
    return info.value


def test_a_clean_zip_unpacks_with_plain_modes(tmp_path):
    src = make_zip(tmp_path / "s.zip", {"attention.py": b"x = 1\n", "lib/util.py": b"y = 2\n"})
    summary = unpack_submission(src, tmp_path / "out")
    assert summary.paths == ("attention.py", "lib/util.py")
    assert (tmp_path / "out/lib/util.py").read_bytes() == b"y = 2\n"
    assert stat.S_IMODE((tmp_path / "out/attention.py").stat().st_mode) == 0o644
    assert check_archive(src).files == 2


def test_check_archive_writes_nothing(tmp_path):
    src = make_zip(tmp_path / "s.zip", {"a.py": b"1"})
    check_archive(src)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zip"]


def test_parent_directory_entry_is_refused(tmp_path):
    err = refused(make_zip(tmp_path / "s.zip", {"../evil.py": b"1"}))
    assert err.reason == Reason.UNSAFE_PATH
    assert "points outside the archive folder ('..')" in str(err)
    assert not (tmp_path / "evil.py").exists()


def test_backslash_traversal_is_refused(tmp_path):
    err = refused(make_zip(tmp_path / "s.zip", {"a\\..\\..\\evil.py": b"1"}))
    assert err.reason == Reason.UNSAFE_PATH


def test_absolute_path_is_refused(tmp_path):
    err = refused(make_zip(tmp_path / "s.zip", {"/etc/cron.d/evil": b"1"}))
    assert err.reason == Reason.ABSOLUTE_PATH
    assert "has an absolute path" in str(err)


def test_drive_letter_is_refused(tmp_path):
    err = refused(make_zip(tmp_path / "s.zip", {"C:/evil.py": b"1"}))
    assert err.reason == Reason.ABSOLUTE_PATH


def test_symlink_entry_is_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("data")
        info.create_system = 3
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    err = refused(path)
    assert err.reason == Reason.SYMLINK
    assert "is a symbolic link; links are not accepted" in str(err)


def test_device_entry_is_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("dev")
        info.external_attr = (stat.S_IFCHR | 0o666) << 16
        zf.writestr(info, "")
    assert refused(path).reason == Reason.SPECIAL_FILE


def test_too_many_files_is_refused(tmp_path):
    src = make_zip(tmp_path / "s.zip", {f"f{i}.py": b"" for i in range(11)})
    err = refused(src, max_files=10)
    assert err.reason == Reason.TOO_MANY_FILES
    assert "at most 10 are allowed" in str(err)


def test_too_large_unpacked_is_refused(tmp_path):
    src = make_zip(tmp_path / "s.zip", {"a.bin": os.urandom(3000), "b.bin": os.urandom(3000)})
    err = refused(src, max_bytes=5000)
    assert err.reason == Reason.TOO_LARGE
    assert "at most 0.0 MB is allowed" in str(err)


def test_zip_bomb_compression_ratio_is_refused(tmp_path):
    src = make_zip(tmp_path / "s.zip", {"zeros.bin": bytes(8 * 1024 * 1024)})
    err = refused(src, max_ratio=100)
    assert err.reason == Reason.COMPRESSION_RATIO
    assert "looks like a zip bomb" in str(err)


def test_small_files_may_compress_well(tmp_path):
    src = make_zip(tmp_path / "s.zip", {"blank.txt": b" " * 100_000})
    assert check_archive(src, max_ratio=10).files == 1


def test_encrypted_zip_is_refused(tmp_path):
    path = make_zip(tmp_path / "s.zip", {"a.py": b"secret"}, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + offset] |= 0x1
    path.write_bytes(bytes(data))
    err = refused(path)
    assert err.reason == Reason.ENCRYPTED
    assert "upload a zip without a password" in str(err)


def test_corrupt_member_is_refused(tmp_path):
    path = make_zip(tmp_path / "s.zip", {"a.py": b"A" * 200}, compression=zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    at = data.find(b"A" * 200)
    data[at + 10] = ord("B")  # the CRC no longer matches
    path.write_bytes(bytes(data))
    err = refused(path)
    assert err.reason == Reason.CORRUPT
    assert "the zip is damaged" in str(err)


def test_truncated_zip_is_refused(tmp_path):
    path = make_zip(tmp_path / "s.zip", {"a.py": os.urandom(5000)})
    path.write_bytes(path.read_bytes()[:2000])
    err = refused(path)
    assert err.reason == Reason.CORRUPT
    assert "is not a readable zip file" in str(err)


def test_a_tarball_is_not_an_archive(tmp_path):
    path = tmp_path / "s.tar.gz"
    path.write_bytes(b"\x1f\x8b\x08\x00" + os.urandom(100))
    err = refused(path)
    assert err.reason == Reason.NOT_AN_ARCHIVE
    assert "tar, rar and 7z are not accepted" in str(err)


def test_duplicate_entries_are_refused(tmp_path):
    path = tmp_path / "s.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.py", "1")
        zf.writestr("./a.py", "2")
    err = refused(path)
    assert err.reason == Reason.DUPLICATE
    assert "holds 'a.py' twice" in str(err)


def test_file_and_folder_with_one_name_are_refused(tmp_path):
    err = refused(make_zip(tmp_path / "s.zip", {"a": b"1", "a/b.py": b"2"}))
    assert err.reason == Reason.DUPLICATE


def test_empty_zip_is_refused(tmp_path):
    err = refused(make_zip(tmp_path / "s.zip", {"__MACOSX/._a.py": b"junk"}))
    assert err.reason == Reason.EMPTY


def test_mac_junk_and_bytecode_are_skipped(tmp_path):
    src = make_zip(
        tmp_path / "s.zip",
        {"a.py": b"1", "__MACOSX/._a.py": b"", ".DS_Store": b"", "__pycache__/a.cpython-311.pyc": b""},
    )
    assert unpack_submission(src, tmp_path / "out").paths == ("a.py",)


def test_single_top_folder_is_flattened_on_request(tmp_path):
    src = make_zip(tmp_path / "s.zip", {"hw3/attention.py": b"1", "hw3/lib/x.py": b"2"})
    assert unpack_submission(src, tmp_path / "a", flatten_single_dir=True).paths == (
        "attention.py",
        "lib/x.py",
    )
    assert unpack_submission(src, tmp_path / "b").paths == ("hw3/attention.py", "hw3/lib/x.py")


def test_destination_must_be_empty(tmp_path):
    src = make_zip(tmp_path / "s.zip", {"a.py": b"1"})
    (tmp_path / "out").mkdir()
    (tmp_path / "out/x").write_text("x")
    with pytest.raises(ArchiveError) as info:
        unpack_submission(src, tmp_path / "out")
    assert info.value.reason == Reason.DEST_NOT_EMPTY


def test_a_folder_is_copied(tmp_path):
    src = tmp_path / "sub"
    (src / "pkg").mkdir(parents=True)
    (src / "pkg/a.py").write_text("a")
    (src / "__pycache__").mkdir()
    (src / "__pycache__/a.pyc").write_text("junk")
    assert unpack_submission(src, tmp_path / "out").paths == ("pkg/a.py",)
    assert (tmp_path / "out/pkg/a.py").read_text() == "a"


def test_a_folder_with_a_symlink_is_refused(tmp_path):
    src = tmp_path / "sub"
    src.mkdir()
    (src / "data").symlink_to("/etc/passwd")
    err = refused(src)
    assert err.reason == Reason.SYMLINK
    assert "'data' is a symbolic link" in str(err)


def test_a_folder_with_a_fifo_is_refused(tmp_path):
    src = tmp_path / "sub"
    src.mkdir()
    os.mkfifo(src / "pipe")
    assert refused(src).reason == Reason.SPECIAL_FILE


def test_a_missing_path_is_refused(tmp_path):
    assert refused(tmp_path / "nope.zip").reason == Reason.NOT_AN_ARCHIVE


_name_part = st.sampled_from(["a", "b", "..", ".", "", "/", "\\", "C:", "x.py", "\x00"])


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.lists(_name_part, min_size=1, max_size=5).map("/".join), max_size=4))
def test_nothing_is_ever_written_outside_the_destination(tmp_path, names):
    case = Path(tempfile.mkdtemp(dir=os.path.realpath(tmp_path)))
    src = case / "s.zip"
    with zipfile.ZipFile(src, "w") as zf, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate names drawn
        for name in names:
            try:
                zf.writestr(name, b"1")
            except (ValueError, OSError, IndexError):
                pass
    dest = case / "dest"
    try:
        unpack_submission(src, dest)
    except ArchiveError:
        pass
    written = {str(p) for p in case.rglob("*")} - {str(src), str(dest)}
    assert all(p.startswith(str(dest) + os.sep) for p in written)
