"""Harness bundles: load_harness validates harness.toml and says what to fix."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from projects.runner.harness import HarnessError, load_harness

HARNESSES = Path(__file__).resolve().parents[1] / "harnesses"

VALID = """
timeout_s = 5
memory_mb = 512
gpus = 0
points = 10

[predict]
command = ["python", "predict.py"]

[score]
command = ["python", "score.py"]
timeout_s = 2
"""


def bundle(tmp_path: Path, manifest: str = VALID, **files: str) -> Path:
    root = tmp_path / "bundle"
    root.mkdir()
    (root / "harness.toml").write_text(manifest)
    files = {"predict.py": "", "score.py": "", **files}
    for name, text in files.items():
        path = root / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def zipped(folder: Path, zip_path: Path, *, wrap: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, f"{wrap}{path.relative_to(folder)}")
    return zip_path


def error_of(path: Path) -> str:
    with pytest.raises(HarnessError) as info:
        load_harness(path)
    return str(info.value)


def test_a_valid_bundle_loads_with_defaults_and_overrides(tmp_path):
    harness = load_harness(bundle(tmp_path))
    assert harness.points == 10.0
    assert harness.predict.command == ("python", "predict.py")
    assert (harness.predict.timeout_s, harness.predict.memory_mb) == (5.0, 512)
    assert (harness.score.timeout_s, harness.score.memory_mb) == (2.0, 512)
    assert harness.name == "bundle"
    assert harness.extra_credit is False


def test_the_shipped_examples_load():
    for name in ("mhsa", "classifier", "trivial"):
        harness = load_harness(HARNESSES / name / "harness")
        assert harness.name == name
        assert harness.gpus == 0


def test_a_zip_and_its_folder_have_the_same_digest(tmp_path):
    folder = bundle(tmp_path, **{"hidden__ref.txt": "42", "public__in.txt": "1"})
    plain = load_harness(zipped(folder, tmp_path / "plain.zip"))
    wrapped = load_harness(zipped(folder, tmp_path / "wrapped.zip", wrap="mhsa/"))
    assert plain.sha256 == wrapped.sha256 == load_harness(folder).sha256
    assert wrapped.prefix == "mhsa"


def test_any_change_changes_the_digest(tmp_path):
    folder = bundle(tmp_path, **{"hidden__ref.txt": "42"})
    before = load_harness(folder).sha256
    (folder / "hidden/ref.txt").write_text("43")
    assert load_harness(folder).sha256 != before


def test_materialize_leaves_hidden_out_of_the_predict_folder(tmp_path):
    folder = bundle(tmp_path, **{"hidden__ref.txt": "42", "public__in.txt": "1"})
    harness = load_harness(zipped(folder, tmp_path / "h.zip", wrap="top/"))
    (tmp_path / "predict").mkdir()
    (tmp_path / "score").mkdir()
    harness.materialize(tmp_path / "predict", include_hidden=False)
    harness.materialize(tmp_path / "score", include_hidden=True)
    assert not (tmp_path / "predict/hidden").exists()
    assert (tmp_path / "predict/public/in.txt").read_text() == "1"
    assert (tmp_path / "score/hidden/ref.txt").read_text() == "42"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("points = 10", ""), "harness.toml: missing points; add e.g. points = 10"),
        (("timeout_s = 5", ""), "missing timeout_s; add e.g. timeout_s = 60"),
        (("timeout_s = 5", "timeout_s = -1"), "timeout_s must be above 0"),
        (("timeout_s = 5", 'timeout_s = "5"'), "timeout_s must be a number, not '5'"),
        (("memory_mb = 512", "memory_mb = 1.5"), "memory_mb must be a whole number of MB"),
        (("gpus = 0", "gpus = 2"), "gpus must be 0 or 1, not 2"),
        (("gpus = 0", "gpus = 0\ntimout_s = 3"), "unknown key 'timout_s'"),
        (("[score]", "[scor]"), "unknown key 'scor'"),
        (
            ('command = ["python", "score.py"]', 'command = "python score.py"'),
            "[score] command must be a non-empty list of strings",
        ),
        (
            ('command = ["python", "predict.py"]', 'command = ["python", "pred.py"]'),
            "[predict] command runs 'pred.py', which is not in the bundle",
        ),
        (("timeout_s = 2", "timeout_s = 2\nmemory = 3"), "[score]: unknown key 'memory'"),
        (("gpus = 0", "gpus = 0\nextra_credit = 1"), "extra_credit must be true or false"),
        (("points = 10", "points = 10\n[["), "harness.toml is not valid TOML"),
    ],
)
def test_manifest_errors_name_the_field(tmp_path, change, message):
    old, new = change
    assert old in VALID
    assert message in error_of(bundle(tmp_path, VALID.replace(old, new, 1)))


def test_missing_step_table_shows_an_example(tmp_path):
    manifest = VALID.split("[score]")[0]
    assert 'missing [score] table; add e.g.\n[score]\ncommand = ["python", "score.py"]' in error_of(
        bundle(tmp_path, manifest)
    )


def test_missing_manifest_is_explained(tmp_path):
    folder = bundle(tmp_path)
    (folder / "harness.toml").unlink()
    assert "no harness.toml at its root" in error_of(folder)


def test_reserved_names_are_refused(tmp_path):
    message = error_of(bundle(tmp_path, **{"outputs__x.txt": ""}))
    assert "'outputs' is reserved for the runner" in message


def test_a_symlink_in_the_bundle_is_refused(tmp_path):
    folder = bundle(tmp_path)
    (folder / "data").symlink_to("/etc/passwd")
    assert "is a symbolic link" in error_of(folder)


def test_bytecode_caches_are_ignored(tmp_path):
    folder = bundle(tmp_path)
    before = load_harness(folder).sha256
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__/score.cpython-311.pyc").write_bytes(b"junk")
    assert load_harness(folder).sha256 == before


def test_a_copy_of_an_example_is_self_contained(tmp_path):
    copy = shutil.copytree(HARNESSES / "trivial" / "harness", tmp_path / "t")
    assert load_harness(copy).sha256 == load_harness(HARNESSES / "trivial" / "harness").sha256
