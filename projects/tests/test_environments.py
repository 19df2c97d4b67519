"""Per-harness environments and datasets in the runner (no Django): parsing, uv builds, lock, GC, offline.

The ``slow`` tests build real environments with uv from the package registry
(UV_INDEX_URL / UV_EXTRA_INDEX_URL / UV_FIND_LINKS when set, else PyPI): two
small packages (tqdm, Pillow) layered on the worker's own PyTorch, so no second
PyTorch and never a CUDA wheel is downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
import time
import zipfile
from pathlib import Path

import pytest

from projects.runner import datasets as rds
from projects.runner import environments as envs
from projects.runner.harness import HarnessError, load_harness
from projects.runner.runner import GradeStatus, NodeStores, grade

from .envdata import CORRECT, CRASH, DOWNLOAD, FIXTURE, make_shapes

SOURCES = envs.Sources.from_env()


def stores(tmp: Path) -> NodeStores:
    return NodeStores(env_root=tmp / "envs", data_root=tmp / "data", harness_cache=tmp / "bundles",
                      sources=SOURCES)


def harness_copy(tmp: Path, requirements: str | None = None, manifest_extra: str = "") -> Path:
    dest = tmp / "harness"
    shutil.copytree(FIXTURE, dest)
    if requirements is not None:
        (dest / "env" / "requirements.txt").write_text(requirements)
    if manifest_extra:
        with open(dest / "harness.toml", "a") as fh:
            fh.write(manifest_extra)
    return dest


def shapes(tmp: Path) -> dict[str, rds.DatasetRef]:
    folder = tmp / "shapes-src"
    make_shapes(folder)
    return {"shapes": rds.DatasetRef(name="shapes", version=rds.tree_digest(folder), source=folder)}


def submission(tmp: Path, code: str) -> Path:
    folder = tmp / f"sub-{abs(hash(code))}"
    folder.mkdir()
    (folder / "solution.py").write_text(code)
    return folder


# --- harness.toml ----------------------------------------------------------------------------


def test_the_fixture_declares_its_environment_and_dataset():
    harness = load_harness(FIXTURE)
    assert harness.environment is not None
    assert harness.environment.requirements_path == "env/requirements.txt"
    assert "tqdm==4.67.1" in harness.environment.requirements and harness.environment.base is True
    assert harness.data == (("shapes", "shapes"),)


@pytest.mark.parametrize(("requirements", "manifest", "message"), [
    ("tqdm>=4\n", "", "env/requirements.txt line 1: 'tqdm>=4' must be pinned with =="),
    ("--index-url http://evil/simple\ntqdm==4.67.1\n", "", "options such as --index-url are not allowed"),
    ("tqdm==4.67.1\n", '\n[data]\nshapes = "Shapes!"\n', "must name a registered dataset"),
])
def test_bad_environment_or_data_tables_name_what_to_fix(tmp_path, requirements, manifest, message):
    path = harness_copy(tmp_path, requirements)
    if manifest:
        text = (path / "harness.toml").read_text().replace('[data]\nshapes = "shapes"\n', "")
        (path / "harness.toml").write_text(text + manifest)
    with pytest.raises(HarnessError, match=message.replace("(", r"\(").replace(")", r"\)").replace("+", r"\+")):
        load_harness(path)


def test_an_unknown_environment_key_and_a_missing_requirements_file_are_refused(tmp_path):
    path = harness_copy(tmp_path)
    text = (path / "harness.toml").read_text()
    (path / "harness.toml").write_text(text.replace('requirements = "env/requirements.txt"',
                                                    'requirements = "env/requirements.txt"\npyhton = "3.11"'))
    with pytest.raises(HarnessError, match="unknown key 'pyhton'"):
        load_harness(path)
    (path / "harness.toml").write_text(text.replace("env/requirements.txt", "env/missing.txt"))
    with pytest.raises(HarnessError, match="'env/missing.txt' is not in the bundle"):
        load_harness(path)


def test_the_digest_follows_requirements_python_index_and_the_worker_packages():
    spec = envs.EnvSpec(requirements="tqdm==4.67.1\n", requirements_path="r.txt")
    base = {"torch": "2.13.0+cpu"}
    one = envs.env_digest(spec, python_version="3.11.7", flavour="cpu", base=base)
    assert one == envs.env_digest(spec, python_version="3.11.7", flavour="cpu", base=dict(base))
    assert one != envs.env_digest(spec, python_version="3.11.7", flavour="cuda", base=base)
    assert one != envs.env_digest(spec, python_version="3.12.1", flavour="cpu", base=base)
    assert one != envs.env_digest(spec, python_version="3.11.7", flavour="cpu", base={"torch": "2.14.1"})
    other = envs.EnvSpec(requirements="tqdm==4.67.0\n", requirements_path="r.txt")
    assert one != envs.env_digest(other, python_version="3.11.7", flavour="cpu", base=base)


def test_sources_come_from_uv_style_variables_with_the_flavour_index_first():
    sources = envs.Sources.from_env({
        "UV_INDEX_URL": "https://mirror/simple", "UV_EXTRA_INDEX_URL": "file:///a file:///b",
        "UV_FIND_LINKS": "/opt/wheels", "ENV_CUDA_INDEX_URL": "https://download.pytorch.org/whl/cu128",
    })
    args = sources.uv_args("cuda")
    assert args[:4] == ["--index-url", "https://mirror/simple", "--extra-index-url",
                        "https://download.pytorch.org/whl/cu128"]
    assert args.count("--extra-index-url") == 3 and "--find-links" in args
    assert "https://download.pytorch.org/whl/cu128" not in sources.uv_args("cpu")


# --- garbage collection and half-built environments (no uv needed) ----------------------------


def fake_env(root: Path, digest: str, *, size: int, used: float) -> Path:
    env = root / digest
    (env / "bin").mkdir(parents=True)
    (env / envs.META).write_text(json.dumps({"size_bytes": size, "packages": []}))
    (env / envs.LAST_USED).touch()
    os.utime(env / envs.LAST_USED, (used, used))
    return env


def test_gc_removes_least_recently_used_first_and_spares_an_environment_in_use(tmp_path):
    now = time.time()
    fake_env(tmp_path, "a" * 64, size=400, used=now - 300)  # oldest, but in use
    fake_env(tmp_path, "b" * 64, size=400, used=now - 200)
    fake_env(tmp_path, "c" * 64, size=400, used=now - 100)
    fake_env(tmp_path, "d" * 64, size=400, used=now)
    in_use = envs._ready(envs._paths(tmp_path, "a" * 64), "a" * 64)
    os.utime(tmp_path / ("a" * 64) / envs.LAST_USED, (now - 300, now - 300))  # _ready touched it
    with envs.in_use(in_use):
        removed = envs.collect_garbage(tmp_path, max_bytes=900)
    assert removed == ["b" * 64, "c" * 64]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["a" * 64, "d" * 64]
    assert envs.collect_garbage(tmp_path, max_bytes=900) == []  # 800 bytes left: under the cap


def test_a_half_built_environment_is_never_reported_ready(tmp_path):
    digest = "e" * 64
    (tmp_path / f".build-{digest}-4242" / "bin").mkdir(parents=True)  # a worker killed mid-build
    assert envs.environment_state(digest, root=tmp_path).state == "missing"
    (tmp_path / digest).mkdir()  # even a folder without env.json is not an environment
    assert envs.environment_state(digest, root=tmp_path).state == "missing"


# --- datasets ----------------------------------------------------------------------------------


def test_a_dataset_has_one_version_whether_folder_zip_or_tar(tmp_path):
    folder = tmp_path / "src"
    make_shapes(folder)
    with zipfile.ZipFile(tmp_path / "d.zip", "w") as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    with tarfile.open(tmp_path / "d.tar.gz", "w:gz") as tf:
        tf.add(folder, arcname=".")
    versions = set()
    for source in (folder, tmp_path / "d.zip", tmp_path / "d.tar.gz"):
        out = tmp_path / f"unpacked-{source.name}"
        rds.unpack_dataset(source, out)
        versions.add(rds.tree_digest(out))
    assert versions == {rds.tree_digest(folder)}


def test_a_dataset_is_fetched_once_per_node_read_only_and_reused(tmp_path):
    ref = shapes(tmp_path)["shapes"]
    tree = rds.ensure_dataset(ref, root=tmp_path / "data")
    first = (tree / "images" / "img0.ppm").stat()
    assert tree == tmp_path / "data" / "shapes" / ref.version
    assert oct(first.st_mode & 0o777) == "0o444" and oct(tree.stat().st_mode & 0o777) == "0o555"
    again = rds.ensure_dataset(ref, root=tmp_path / "data")
    assert (again / "images" / "img0.ppm").stat().st_ino == first.st_ino  # not fetched again


def test_a_dataset_whose_files_do_not_match_its_version_is_refused_and_not_kept(tmp_path):
    ref = shapes(tmp_path)["shapes"]
    (ref.source / "images" / "img0.ppm").write_bytes(b"P6\n8 8\n255\n" + b"\0" * 192)  # corrupted store
    with pytest.raises(rds.DatasetError, match=f"not the registered version {ref.version[:12]}"):
        rds.ensure_dataset(ref, root=tmp_path / "data")
    assert list((tmp_path / "data" / "shapes").iterdir()) == [tmp_path / "data" / "shapes" / f"{ref.version}.lock"]


def test_a_dataset_archive_with_a_link_or_an_escape_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as zf:
        zf.writestr("../outside.txt", "x")
    with pytest.raises(rds.DatasetError, match="escapes the dataset folder"):
        rds.unpack_dataset(tmp_path / "evil.zip", tmp_path / "out")
    folder = tmp_path / "linked"
    folder.mkdir()
    (folder / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(rds.DatasetError, match="non-regular file"):
        rds.unpack_dataset(folder, tmp_path / "out2")


def test_a_harness_naming_an_unregistered_dataset_is_a_harness_error(tmp_path):
    path = harness_copy(tmp_path)
    text = (path / "harness.toml").read_text()
    (path / "harness.toml").write_text(text.replace("[environment]\nrequirements = \"env/requirements.txt\"\n", ""))
    record = grade(path, submission(tmp_path, CORRECT), stores=stores(tmp_path), datasets={})
    assert record.status is GradeStatus.HARNESS_ERROR
    assert "no dataset named 'shapes' is registered" in record.error and "dataset_add shapes" in record.error


# --- real builds with uv (slow) --------------------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """One real environment (tqdm + Pillow over the worker's PyTorch) shared by the slow tests."""
    tmp = tmp_path_factory.mktemp("envs")
    node = stores(tmp)
    spec = load_harness(FIXTURE).environment
    env = envs.ensure_environment(spec, root=node.env_root, sources=node.sources)
    return node, env


@pytest.mark.slow
def test_a_real_build_layers_small_packages_on_the_worker_pytorch(built):
    _node, env = built
    names = {line.split("==")[0].lower() for line in env.meta["packages"]}
    assert {"tqdm", "pillow"} <= names
    assert "torch" not in names and not any(n.startswith("nvidia") for n in names)  # never a second PyTorch
    assert env.meta["size_bytes"] < 100e6
    out = subprocess.run([env.python, "-c", "import torch, tqdm, PIL; print(torch.__file__, tqdm.__version__)"],
                         capture_output=True, text=True, check=True).stdout
    assert os.path.realpath(sys.prefix) in out and "4.67.1" in out


@pytest.mark.slow
def test_the_example_runs_end_to_end_in_the_sandbox_with_the_environment_and_dataset(built, tmp_path):
    node, env = built
    data = shapes(tmp_path)
    record = grade(FIXTURE, submission(tmp_path, CORRECT), stores=node, datasets=data)
    assert record.status is GradeStatus.COMPLETED, record.error
    assert record.score == 4
    assert record.environment["digest"] == env.digest and record.datasets == {
        "shapes": {"name": "shapes", "version": data["shapes"].version}}
    seen = json.loads(record.output)
    info = seen["info"]
    assert info["python"] == env.python and info["tqdm"] == "4.67.1"
    assert info["torch_file"].startswith(os.path.realpath(sys.prefix))  # the worker's PyTorch, layered
    assert info["data_write"] != "allowed" and not info["data_writable"]
    assert not info["public_writable"] and not seen["hidden_writable"]
    assert info["env"]["HF_HUB_OFFLINE"] == "1" and info["env"]["TRANSFORMERS_OFFLINE"] == "1"
    assert info["env"]["HF_DATASETS_OFFLINE"] == "1" and info["env"]["MPLCONFIGDIR"].endswith("/matplotlib")

    crashed = grade(FIXTURE, submission(tmp_path, CRASH), stores=node, datasets=data)
    assert crashed.status is GradeStatus.COMPLETED and crashed.score == 0
    assert "RuntimeError: not implemented yet" in crashed.error


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["jail", "process"])
def test_a_download_attempt_fails_with_the_offline_message(built, tmp_path, monkeypatch, backend):
    if backend == "jail":
        from projects.runner import jail

        if not jail.available()[0]:
            pytest.skip(jail.available()[1])
    monkeypatch.setenv("SANDBOX_BACKEND", backend)
    node, _env = built
    record = grade(FIXTURE, submission(tmp_path, DOWNLOAD), stores=node, datasets=shapes(tmp_path))
    assert record.status is GradeStatus.COMPLETED and record.score == 0
    assert "this grading job is offline" in record.error
    assert "download.pytorch.org" in record.error and "harness.toml [data]" in record.error


@pytest.mark.slow
def test_two_workers_build_one_environment_once(tmp_path):
    """Two processes ask for the same new environment at once: one builds, the other waits and reuses it."""
    script = textwrap.dedent(f"""
        import sys, json
        from pathlib import Path
        from projects.runner import environments as envs
        spec = envs.EnvSpec(requirements="tqdm==4.67.1\\n", requirements_path="env/requirements.txt")
        lines = []
        env = envs.ensure_environment(spec, root=Path({str(tmp_path / 'envs')!r}),
                                      sources=envs.Sources.from_env(), on_log=lines.append)
        print(json.dumps({{"path": str(env.path), "log": lines}}))
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2]) for _ in range(2)]
    results = [json.loads(p.communicate(timeout=300)[0]) for p in procs]
    assert results[0]["path"] == results[1]["path"]
    builders = [r for r in results if any(line.startswith("building environment") for line in r["log"])]
    waiters = [r for r in results if any("was built by another worker" in line for line in r["log"])]
    assert len(builders) == 1 and len(waiters) == 1, results
    log = (tmp_path / "envs" / f"{Path(results[0]['path']).name}.log").read_text()
    assert log.count("uv venv") == 1
    assert not list((tmp_path / "envs").glob(".build-*"))


@pytest.mark.slow
def test_a_failing_requirement_names_its_line_and_is_not_rebuilt_per_job(tmp_path):
    path = harness_copy(tmp_path, "tqdm==4.67.1\npillow==0.0.1\n")
    node = stores(tmp_path)
    record = grade(path, submission(tmp_path, CORRECT), stores=node, datasets=shapes(tmp_path))
    assert record.status is GradeStatus.HARNESS_ERROR
    assert "environment could not be built" in record.error
    assert "env/requirements.txt line 2 (pillow==0.0.1)" in record.error
    spec = load_harness(path).environment
    digest = envs.spec_digest(spec)
    assert envs.environment_state(digest, root=node.env_root).state == "failed"
    log_size = (node.env_root / f"{digest}.log").stat().st_size
    started = time.monotonic()
    with pytest.raises(envs.EnvironmentError_, match="line 2"):
        envs.ensure_environment(spec, root=node.env_root, sources=node.sources)
    assert time.monotonic() - started < 1 and (node.env_root / f"{digest}.log").stat().st_size == log_size
    assert not (node.env_root / digest).exists() and not list(node.env_root.glob(".build-*"))


# --- hashes in a layered environment ---------------------------------------------------------


def test_hashes_are_read_from_continued_and_spaced_requirement_lines():
    text = ("tqdm==4.67.1 \\\n    --hash=sha256:aaa \\\n    --hash=sha256:bbb\n"
            "Pillow==11.0.0 --hash sha256:ccc  # comment\nnumpy==2.0.0\n")
    assert envs.requirement_hashes(text) == {
        "tqdm": ["--hash=sha256:aaa", "--hash=sha256:bbb"], "pillow": ["--hash=sha256:ccc"]}
    assert envs.requirement_hashes("tqdm==4.67.1\n") == {}


def test_with_hashes_every_package_to_download_needs_one():
    spec = envs.EnvSpec(requirements="tqdm==4.67.1 --hash=sha256:aaa\n", requirements_path="env/requirements.txt")
    hashes = envs.requirement_hashes(spec.requirements)
    assert envs._with_hashes(["tqdm==4.67.1"], hashes, spec) == ["tqdm==4.67.1 --hash=sha256:aaa"]
    with pytest.raises(envs.EnvironmentError_, match=r"uses --hash, so every package .* add one for: colorama==0.4.6"):
        envs._with_hashes(["tqdm==4.67.1", "colorama==0.4.6"], hashes, spec)


def _wheel_sha256(tmp: Path, requirement: str) -> str:
    """The sha256 of the wheel pip fetches for ``requirement`` (the same file uv installs)."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    requirement, "-d", str(tmp)], check=True, capture_output=True)
    (wheel,) = tmp.glob("*.whl")
    import hashlib

    return hashlib.sha256(wheel.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_layered_environment_checks_the_instructors_hashes(tmp_path):
    good = _wheel_sha256(tmp_path / "wheel", "tqdm==4.67.1")
    node = stores(tmp_path)
    wrong = envs.EnvSpec(requirements=f"tqdm==4.67.1 --hash=sha256:{'0' * 64}\n",
                         requirements_path="env/requirements.txt")
    with pytest.raises(envs.EnvironmentError_):
        envs.ensure_environment(wrong, root=node.env_root, sources=node.sources)
    log = (node.env_root / f"{envs.spec_digest(wrong)}.log").read_text()
    assert "--require-hashes" in log and "hash" in log.lower()
    right = envs.EnvSpec(requirements=f"tqdm==4.67.1 \\\n    --hash=sha256:{good}\n",
                         requirements_path="env/requirements.txt")
    env = envs.ensure_environment(right, root=node.env_root, sources=node.sources)
    out = subprocess.run([env.python, "-c", "import tqdm; print(tqdm.__version__)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "4.67.1"
