"""Per-harness Python environments: build with uv, cache by digest, lock, collect garbage.

Imports no Django (STYLE.md): a GPU node runs it with the runner alone.  The
contract for instructors is in docs/harness.md ("Python environments").

Public API:

    EnvSpec                      # harness.toml [environment], read by harness.py
    Sources, Sources.from_env()  # where packages come from (UV_INDEX_URL-style variables)
    env_digest(spec, ...) -> str
    ensure_environment(spec, *, root, sources, ...) -> Environment   # build once per node, or reuse
    environment_state(digest, *, root) -> EnvState                  # building / ready / failed / missing
    in_use(env)                  # context manager: a shared lock GC respects while a job runs
    collect_garbage(root, *, max_bytes) -> list[str]                 # least-recent use first
    EnvironmentError_            # the build failed; the message names the line to fix

Layout under ``root`` (``ENV_ROOT``), one set per digest::

    <digest>/              the finished environment (a venv); never half-built: it is
                           built in .build-<digest>-<pid>/ and renamed when complete
    <digest>/env.json      metadata: packages, size, build time, python, spec
    <digest>.lock          flock: exclusive while building or deleting, shared while a job uses it
    <digest>.log           the installer's live output (kept after the build)
    <digest>.failed.json   why the last build failed (a later ensure() re-raises it
                           unless ``force``: a broken requirement is not retried per job)

Layering (``base = true``, the default): the environment is a venv of the
worker's base interpreter with a ``.pth`` file that appends the worker's own
site-packages (its PyTorch, NumPy).  The worker's installed packages are given to
the resolver as constraints, and those already present at the resolved version
are not installed again: a requirement that needs ``torch`` reuses the worker's
torch instead of downloading a second one (or a CUDA build on a CPU node).
``base = false`` builds a standalone environment from the requirements alone.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import fcntl
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path

META = "env.json"
BASE_PTH = "_worker_base_packages.pth"
LAST_USED = ".last-used"
BUILD_TIMEOUT_S = 3600
LOG_TAIL_CHARS = 4000
BUILDER_VERSION = 2  # part of every digest: a change in how environments are made rebuilds them
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class EnvironmentError_(Exception):  # noqa: N801 - the builtin EnvironmentError is OSError
    """The environment cannot be built; the message says which requirement line and why."""


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    requirements: str  # the requirements file's text (pinned == lines, optionally --hash)
    requirements_path: str  # its path in the bundle, for messages ("env/requirements.txt")
    python: str | None = None  # "3.11"; None: the worker's interpreter
    index: str | None = None  # "cpu" | "cuda"; None: cuda when the predict step gets a GPU, else cpu
    base: bool = True  # layer on the worker's installed packages (see module docstring)

    def flavour(self, *, gpu: bool) -> str:
        return self.index or ("cuda" if gpu else "cpu")


@dataclasses.dataclass(frozen=True)
class Sources:
    """Package sources for builds (run time is always offline).

    Read from the worker's environment with the names uv itself uses, plus one
    extra index per flavour (``ENV_CPU_INDEX_URL`` / ``ENV_CUDA_INDEX_URL``, e.g.
    ``https://download.pytorch.org/whl/cu128``), put first so PyTorch's own
    builds win over the registry's.
    """

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    index_strategy: str | None = None  # "unsafe-best-match" behaves like pip across several indexes
    cpu_index_url: str | None = None
    cuda_index_url: str | None = None

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Sources:
        env = os.environ if environ is None else environ

        def many(name: str) -> tuple[str, ...]:
            return tuple(x for x in re.split(r"[\s]+", env.get(name, "").strip()) if x)

        return cls(
            index_url=env.get("UV_INDEX_URL") or None,
            extra_index_urls=many("UV_EXTRA_INDEX_URL"),
            find_links=many("UV_FIND_LINKS"),
            index_strategy=env.get("UV_INDEX_STRATEGY") or None,
            cpu_index_url=env.get("ENV_CPU_INDEX_URL") or None,
            cuda_index_url=env.get("ENV_CUDA_INDEX_URL") or None,
        )

    def uv_args(self, flavour: str) -> list[str]:
        args: list[str] = []
        if self.index_url:
            args += ["--index-url", self.index_url]
        first = self.cuda_index_url if flavour == "cuda" else self.cpu_index_url
        for url in ((first,) if first else ()) + self.extra_index_urls:
            args += ["--extra-index-url", url]
        for link in self.find_links:
            args += ["--find-links", link]
        if self.index_strategy:
            args += ["--index-strategy", self.index_strategy]
        return args


@dataclasses.dataclass(frozen=True)
class Environment:
    digest: str
    path: Path  # the environment's folder (bind it read-only at the same path)
    python: str  # its interpreter
    meta: dict  # env.json
    lock_path: Path

    @property
    def base_prefix(self) -> str:
        """The base interpreter's installation, which a step must also see."""
        return self.meta.get("base_prefix", "")


@dataclasses.dataclass(frozen=True)
class EnvState:
    state: str  # "missing" | "building" | "ready" | "failed"
    digest: str
    log: str = ""  # the installer's output (tail)
    error: str = ""  # for failed
    meta: dict = dataclasses.field(default_factory=dict)  # for ready


def uv_path() -> str:
    """The uv next to this interpreter (installed by ``make install``), else on PATH."""
    here = Path(sys.executable).parent / "uv"
    if here.exists():
        return str(here)
    found = shutil.which("uv")
    if not found:
        raise EnvironmentError_("uv is not installed on this worker; run `make install` (requirements.txt pins it).")
    return found


def base_site_packages() -> list[str]:
    """The worker's own site-packages (its venv), real paths."""
    paths = [sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    out: list[str] = []
    for path in paths:
        real = os.path.realpath(path)
        if real not in out and os.path.isdir(real):
            out.append(real)
    return out


_base_cache: dict[tuple, dict[str, str]] = {}


def base_packages() -> dict[str, str]:
    """name (normalised) -> version of what the worker has installed.

    Reading every package's metadata costs 70-100 ms, too much per job: the answer
    is kept while the site-packages folders' modification times are unchanged
    (installing or removing a package adds or removes a folder there).
    """
    paths = base_site_packages()
    key = tuple((p, os.stat(p).st_mtime_ns) for p in paths)
    cached = _base_cache.get(key)
    if cached is not None:
        return dict(cached)
    found: dict[str, str] = {}
    for dist in metadata.distributions(path=paths):
        name = dist.name  # None for a broken distribution without metadata
        if name:
            found.setdefault(_normalise(name), dist.version)
    _base_cache.clear()
    _base_cache[key] = found
    return dict(found)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def platform_tag() -> str:
    libc = "-".join(platform.libc_ver()) or "nolibc"
    return f"{sysconfig.get_platform()}-{libc}"


def env_digest(spec: EnvSpec, *, python_version: str, flavour: str, base: dict[str, str] | None = None) -> str:
    """sha256 of what decides the environment's contents.

    Requirements text, Python version, platform, index flavour and, when
    layering, the worker's installed packages (another PyTorch is another env).
    """
    doc = {
        "builder": BUILDER_VERSION,
        "requirements": spec.requirements,
        "python": python_version,
        "platform": platform_tag(),
        "index": flavour,
        "base": sorted(base.items()) if spec.base and base is not None else None,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _interpreter(spec: EnvSpec) -> tuple[str, str]:
    """(interpreter for uv venv, X.Y.Z version) for the spec."""
    if spec.python is None or spec.python == ".".join(map(str, sys.version_info[:2])):
        base = os.path.join(sys.base_prefix, "bin", f"python{sys.version_info[0]}.{sys.version_info[1]}")
        if not os.path.exists(base):
            base = os.path.realpath(sys.executable)
        return base, platform.python_version()
    if spec.base:
        raise EnvironmentError_(
            f"[environment] python = {spec.python!r} differs from the worker's "
            f"{sys.version_info[0]}.{sys.version_info[1]}; a layered environment (base = true) must use the "
            "worker's Python. Remove python, or set base = false."
        )
    return spec.python, spec.python


def _paths(root: Path, digest: str) -> dict[str, Path]:
    return {
        "env": root / digest,
        "lock": root / f"{digest}.lock",
        "log": root / f"{digest}.log",
        "failed": root / f"{digest}.failed.json",
    }


def spec_digest(spec: EnvSpec, *, gpu: bool = False) -> str:
    """The digest this node would give ``spec`` (what ``ensure_environment`` builds)."""
    _, version = _interpreter(spec)
    return env_digest(spec, python_version=version, flavour=spec.flavour(gpu=gpu),
                      base=base_packages() if spec.base else None)


def environment_state(digest: str, *, root: Path) -> EnvState:
    """What this node knows about environment ``digest``, without waiting for any lock."""
    paths = _paths(Path(root), digest)
    log_text = _tail_file(paths["log"])
    meta_file = paths["env"] / META
    if meta_file.exists():
        return EnvState("ready", digest, log=log_text, meta=json.loads(meta_file.read_text()))
    if paths["lock"].exists() and _locked(paths["lock"]):
        return EnvState("building", digest, log=log_text)
    if paths["failed"].exists():
        failed = json.loads(paths["failed"].read_text())
        return EnvState("failed", digest, log=log_text, error=failed.get("error", ""))
    return EnvState("missing", digest, log=log_text)


def _locked(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _tail_file(path: Path, limit: int = 64 * 1024) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - limit))
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return ""


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[int]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, mode)
        yield fd
    finally:
        os.close(fd)  # closing releases the lock


def ensure_environment(
    spec: EnvSpec,
    *,
    root: Path,
    sources: Sources,
    gpu: bool = False,
    force: bool = False,
    on_log: Callable[[str], None] | None = None,
    uv: str | None = None,
) -> Environment:
    """Return the ready environment for ``spec`` on this node, building it first if needed.

    Two workers (threads or processes) asking for the same digest at once: one
    builds under an exclusive flock, the other waits on it and then reuses the
    result.  A build goes into a temporary folder renamed into place only when
    complete, so no one ever uses a half-built environment (a worker killed
    mid-build leaves a ``.build-*`` folder that the next build removes).
    A failed build raises EnvironmentError_ and is remembered in
    ``<digest>.failed.json``; later calls re-raise it without rebuilding unless
    ``force`` (``manage.py harness_env``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    log = on_log or (lambda _line: None)
    interpreter, version = _interpreter(spec)
    flavour = spec.flavour(gpu=gpu)
    base = base_packages() if spec.base else None
    digest = env_digest(spec, python_version=version, flavour=flavour, base=base)
    paths = _paths(root, digest)
    ready = _ready(paths, digest)
    if ready is not None:
        return ready
    with _flock(paths["lock"], fcntl.LOCK_EX):
        ready = _ready(paths, digest)  # built by whoever held the lock before us
        if ready is not None:
            log(f"environment {digest[:12]} was built by another worker")
            return ready
        if paths["failed"].exists() and not force:
            raise EnvironmentError_(json.loads(paths["failed"].read_text()).get("error", "build failed"))
        paths["failed"].unlink(missing_ok=True)
        log(f"building environment {digest[:12]} ({flavour}, Python {version}) with uv")
        started = time.monotonic()
        tmp = root / f".build-{digest}-{os.getpid()}"
        for stale in root.glob(f".build-{digest}-*"):
            shutil.rmtree(stale, ignore_errors=True)
        try:
            packages = _build(spec, tmp, interpreter=interpreter, flavour=flavour, base=base,
                              sources=sources, uv=uv or uv_path(), log_path=paths["log"])
        except EnvironmentError_ as exc:
            shutil.rmtree(tmp, ignore_errors=True)
            paths["failed"].write_text(json.dumps({"error": str(exc), "at": _now()}))
            log(f"environment {digest[:12]} failed: {exc}")
            raise
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        size_bytes, build_s = _size(tmp), round(time.monotonic() - started, 2)
        meta = {
            "digest": digest,
            "python": version,
            "platform": platform_tag(),
            "index": flavour,
            "base": spec.base,
            "base_prefix": os.path.realpath(sys.base_prefix) if spec.python is None or spec.base
            else _home_prefix(tmp),
            "base_site_packages": base_site_packages() if spec.base else [],
            "requirements_path": spec.requirements_path,
            "packages": packages,
            "size_bytes": size_bytes,
            "build_s": build_s,
            "built_at": _now(),
        }
        (tmp / META).write_text(json.dumps(meta, indent=2))
        (tmp / LAST_USED).touch()
        os.rename(tmp, paths["env"])  # atomic: the environment appears complete or not at all
        log(f"environment {digest[:12]} ready: {len(packages)} packages, "
            f"{size_bytes / 1e6:.0f} MB, {build_s:.1f} s")
        return _ready(paths, digest)  # type: ignore[return-value]


def _ready(paths: dict[str, Path], digest: str) -> Environment | None:
    meta_file = paths["env"] / META
    if not meta_file.exists():
        return None
    try:
        os.utime(paths["env"] / LAST_USED)
    except OSError:
        pass
    return Environment(
        digest=digest,
        path=paths["env"],
        python=str(paths["env"] / "bin" / "python"),
        meta=json.loads(meta_file.read_text()),
        lock_path=paths["lock"],
    )


def _home_prefix(env: Path) -> str:
    try:
        for line in (env / "pyvenv.cfg").read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home":
                return os.path.realpath(os.path.dirname(value.strip()))
    except OSError:
        pass
    return ""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _size(path: Path) -> int:
    total = 0
    seen: set[tuple[int, int]] = set()
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def _run_logged(argv: list[str], log_fh, *, env: dict[str, str]) -> tuple[int, str]:
    log_fh.write(("$ " + " ".join(argv) + "\n").encode())
    log_fh.flush()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    out = bytearray()
    assert proc.stdout is not None
    stdout = proc.stdout.fileno()
    for chunk in iter(lambda: os.read(stdout, 65536), b""):
        out += chunk
        log_fh.write(chunk)
        log_fh.flush()  # the instructor's page shows this file while the build runs
    try:
        code = proc.wait(timeout=BUILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = -9
    return code, out.decode("utf-8", "replace")


def _build(
    spec: EnvSpec,
    tmp: Path,
    *,
    interpreter: str,
    flavour: str,
    base: dict[str, str] | None,
    sources: Sources,
    uv: str,
    log_path: Path,
) -> list[str]:
    """Create the venv in ``tmp`` and install the requirements; return 'name==version' lines."""
    keep = ("UV_CACHE_DIR", "UV_LINK_MODE", "UV_HTTP_TIMEOUT", "UV_CONCURRENT_DOWNLOADS")
    env = {k: v for k, v in os.environ.items()
           if k in keep or not k.startswith(("UV_", "PIP_", "VIRTUAL_ENV", "PYTHON"))}
    env["UV_NO_CONFIG"] = "1"  # only the sources given here count, never a stray uv.toml
    src = sources.uv_args(flavour)
    req = tmp.with_name(tmp.name + ".requirements.txt")
    with open(log_path, "wb") as log_fh:
        try:
            req.write_text(spec.requirements)
            code, out = _run_logged([uv, "venv", "--relocatable", "--no-project", "--python", interpreter,
                                     str(tmp)], log_fh, env=env)
            if code:
                raise EnvironmentError_(f"[environment] could not create the environment: {_last_lines(out)}")
            py = str(tmp / "bin" / "python")
            if base is not None:
                site = Path(subprocess.check_output(
                    [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], text=True).strip())
                # addsitedir (not a bare path line) also runs the worker's own .pth files, as its
                # interpreter does; the paths go after this environment's site-packages.
                (site / BASE_PTH).write_text("".join(f"import site; site.addsitedir({p!r})\n"
                                                     for p in base_site_packages()))
                constraints = tmp.with_name(tmp.name + ".base.txt")
                constraints.write_text("".join(f"{n}=={v}\n" for n, v in sorted(base.items())))
                resolved = tmp.with_name(tmp.name + ".resolved.txt")
                try:
                    code, out = _run_logged(
                        [uv, "pip", "compile", "--python", py, "--no-header", "--no-annotate", "--quiet",
                         *src, "-c", str(constraints), "-o", str(resolved), str(req)], log_fh, env=env)
                    if code:
                        raise EnvironmentError_(_explain(out, spec))
                    needed = [line for line in resolved.read_text().splitlines()
                              if line.strip() and not line.lstrip().startswith("#")
                              and not _in_base(line, base)]
                    hashes = requirement_hashes(spec.requirements)
                    if needed and hashes:
                        # The compile step drops --hash; put the instructor's back and let uv check
                        # every download against them (what the worker already has is trusted).
                        needed = _with_hashes(needed, hashes, spec)
                    if needed:
                        resolved.write_text("\n".join(needed) + "\n")
                        code, out = _run_logged([uv, "pip", "install", "--python", py, "--no-deps", *src,
                                                 *(["--require-hashes"] if hashes else []),
                                                 "-r", str(resolved)], log_fh, env=env)
                        if code:
                            raise EnvironmentError_(_explain(out, spec))
                finally:
                    constraints.unlink(missing_ok=True)
                    resolved.unlink(missing_ok=True)
            else:
                code, out = _run_logged([uv, "pip", "install", "--python", py, *src, "-r", str(req)],
                                        log_fh, env=env)
                if code:
                    raise EnvironmentError_(_explain(out, spec))
            code, out = _run_logged([uv, "pip", "freeze", "--python", py], log_fh, env=env)
            return [line for line in out.splitlines() if "==" in line or " @ " in line]
        finally:
            req.unlink(missing_ok=True)


def requirement_hashes(requirements: str) -> dict[str, list[str]]:
    """{normalised name: ['--hash=sha256:…', …]} of the requirement lines that carry hashes."""
    found: dict[str, list[str]] = {}
    for logical in requirements.replace("\\\n", " ").splitlines():
        tokens = logical.split("#", 1)[0].split()
        hashes = [t if t.startswith("--hash=") else f"--hash={t}" for t in _hash_tokens(tokens)]
        match = _REQ_NAME.match(logical)
        if hashes and match:
            found[_normalise(match.group(1))] = hashes
    return found


def _hash_tokens(tokens: list[str]) -> list[str]:
    out = []
    for i, token in enumerate(tokens):
        if token.startswith("--hash="):
            out.append(token[len("--hash="):])
        elif token == "--hash" and i + 1 < len(tokens):
            out.append(tokens[i + 1])
    return out


def _with_hashes(needed: list[str], hashes: dict[str, list[str]], spec: EnvSpec) -> list[str]:
    """The resolved lines with their hashes; any package to download without one is an error (pip's rule)."""
    missing = [line.split(";")[0].strip() for line in needed
               if _normalise(line.split("==")[0]) not in hashes]
    if missing:
        raise EnvironmentError_(
            f"{spec.requirements_path} uses --hash, so every package to download needs a pinned, hashed line; "
            f"add one for: {', '.join(missing)}")
    return [f"{line} {' '.join(hashes[_normalise(line.split('==')[0])])}" for line in needed]


def _in_base(line: str, base: dict[str, str]) -> bool:
    name, _, version = line.split(";")[0].strip().partition("==")
    return base.get(_normalise(name)) == version.strip()


def _last_lines(text: str, n: int = 6) -> str:
    lines = [x.rstrip() for x in text.strip().splitlines() if x.strip()]
    return "\n".join(lines[-n:])[-LOG_TAIL_CHARS:]


def _explain(output: str, spec: EnvSpec) -> str:
    """The installer's own message, led by the requirements line it is about."""
    message = _last_lines(output, 12)
    lowered = message.lower()
    for number, line in enumerate(spec.requirements.splitlines(), start=1):
        match = _REQ_NAME.match(line)
        if not match or line.lstrip().startswith(("#", "-")):
            continue
        name = match.group(1).lower()
        if re.search(rf"(?<![a-z0-9_-]){re.escape(name)}(?![a-z0-9_-])", lowered) or \
                re.search(rf"(?<![a-z0-9_-]){re.escape(_normalise(name))}(?![a-z0-9_-])", lowered):
            return f"{spec.requirements_path} line {number} ({line.strip()}): fix or remove it.\n{message}"
    return f"{spec.requirements_path}: the installer failed.\n{message}"


@contextlib.contextmanager
def in_use(env: Environment) -> Iterator[None]:
    """Hold a shared lock on ``env`` while a job uses it: GC never deletes it under the job."""
    with _flock(env.lock_path, fcntl.LOCK_SH):
        if not (env.path / META).exists():
            raise EnvironmentError_(f"environment {env.digest[:12]} was removed before the job could start")
        yield


def collect_garbage(root: Path, *, max_bytes: int, keep: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
    """Delete ready environments, least recently used first, until their total is under ``max_bytes``.

    An environment in use (a job's shared lock) or being built is skipped.
    Returns the deleted digests.
    """
    root = Path(root)
    entries = []
    for meta_file in root.glob(f"*/{META}"):
        env = meta_file.parent
        try:
            meta = json.loads(meta_file.read_text())
            used = (env / LAST_USED).stat().st_mtime if (env / LAST_USED).exists() else meta_file.stat().st_mtime
        except (OSError, ValueError):
            continue
        entries.append((used, env.name, int(meta.get("size_bytes", 0))))
    total = sum(size for _, _, size in entries)
    removed: list[str] = []
    for _used, digest, size in sorted(entries):
        if total <= max_bytes:
            break
        if digest in keep:
            continue
        paths = _paths(root, digest)
        try:
            with _flock(paths["lock"], fcntl.LOCK_EX | fcntl.LOCK_NB):
                trash = root / f".trash-{digest}-{os.getpid()}"
                os.rename(paths["env"], trash)  # gone at once for readers; deleted at leisure
                shutil.rmtree(trash, ignore_errors=True)
        except BlockingIOError:
            continue
        total -= size
        removed.append(digest)
    return removed
