"""What do per-harness environments and datasets cost a job?  Four figures (docs/harness.md).

    .venv/bin/python bench/environments.py [--runs 15] [--data-gb 1] [--skip-build]

1. the per-job added cost of a ready [environment] vs none (the trivial harness, whole ``grade()``);
2. the per-job added cost of a 1 GB [data] dataset vs none (it is bound, never copied);
   goal for both: under 5 ms added at the median;
3. a cold build of torch + torchvision (the cifar example's requirements) from the node's
   package sources into an empty uv cache, then a warm build (same cache, new environment);
   reported, no goal;
4. run bench/sandbox.py yourself for the jail's own start-up (it must not grow).

Package sources are the worker's (UV_INDEX_URL, UV_EXTRA_INDEX_URL, UV_FIND_LINKS,
UV_INDEX_STRATEGY).  Everything is made under var/bench-environments and removed after.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from projects.runner import datasets as rds  # noqa: E402
from projects.runner import environments as envs  # noqa: E402
from projects.runner.harness import load_harness  # noqa: E402
from projects.runner.runner import GradeStatus, NodeStores, grade  # noqa: E402

TRIVIAL = ROOT / "projects" / "harnesses" / "trivial"
CIFAR = ROOT / "projects" / "harnesses" / "cifar" / "harness"


def variant(dest: Path, extra: str, files: dict[str, str] | None = None) -> Path:
    shutil.copytree(TRIVIAL / "harness", dest)
    with open(dest / "harness.toml", "a") as fh:
        fh.write(extra)
    for rel, text in (files or {}).items():
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        (dest / rel).write_text(text)
    return dest


def big_dataset(dest: Path, gb: float) -> None:
    dest.mkdir(parents=True)
    chunk = os.urandom(1 << 20)
    files = 8
    per_file = int(gb * 1024 / files)
    for i in range(files):
        with open(dest / f"shard{i}.bin", "wb") as fh:
            for _ in range(per_file):
                fh.write(chunk)


def per_job(stores: NodeStores, tmp: Path, runs: int, gb: float) -> dict:
    none = variant(tmp / "h-none", "")
    with_env = variant(tmp / "h-env", '\n[environment]\nrequirements = "env/requirements.txt"\n',
                       {"env/requirements.txt": "tqdm==4.67.1\n"})
    with_data = variant(tmp / "h-data", '\n[data]\nbig = "big"\n')
    print(f"building the small environment and a {gb:g} GB dataset (not timed) ...", flush=True)
    envs.ensure_environment(load_harness(with_env).environment, root=stores.env_root, sources=stores.sources)
    big_dataset(tmp / "big-src", gb)
    ref = rds.DatasetRef(name="big", version=rds.tree_digest(tmp / "big-src"), source=tmp / "big-src")
    rds.ensure_dataset(ref, root=stores.data_root)  # the once-per-node fetch
    shutil.rmtree(tmp / "big-src")
    sample = TRIVIAL / "samples" / "correct"
    times: dict[str, list[float]] = {"none": [], "environment": [], "dataset": []}
    cases = {"none": (none, {}), "environment": (with_env, {}), "dataset": (with_data, {"big": ref})}
    for name, (harness, data) in cases.items():  # warm-up: the bundle caches, the page cache
        record = grade(harness, sample, stores=stores, datasets=data)
        if record.status is not GradeStatus.COMPLETED:
            sys.exit(f"{name}: {record.status.value}: {record.error}")
    for _ in range(runs):
        for name, (harness, data) in cases.items():  # interleaved: a loaded machine's drift hits all alike
            started = time.perf_counter()
            record = grade(harness, sample, stores=stores, datasets=data)
            times[name].append(time.perf_counter() - started)
            assert record.status is GradeStatus.COMPLETED, record.error
    med = {k: statistics.median(v) * 1000 for k, v in times.items()}
    return {"none_ms": round(med["none"], 1), "environment_ms": round(med["environment"], 1),
            "dataset_ms": round(med["dataset"], 1),
            "environment_added_ms": round(med["environment"] - med["none"], 1),
            "dataset_added_ms": round(med["dataset"] - med["none"], 1), "runs": runs, "dataset_gb": gb}


def builds(stores: NodeStores, tmp: Path) -> dict:
    spec = load_harness(CIFAR).environment
    os.environ["UV_CACHE_DIR"] = str(tmp / "uv-cache")  # empty: the cold build fills it
    out = {}
    for kind in ("cold", "warm"):
        root = tmp / f"envs-{kind}"
        print(f"{kind} build of {spec.requirements_path} (torch + torchvision) ...", flush=True)
        started = time.perf_counter()
        env = envs.ensure_environment(spec, root=root, sources=stores.sources)
        out[f"{kind}_build_s"] = round(time.perf_counter() - started, 1)
        out[f"{kind}_size_gb"] = round(env.meta["size_bytes"] / 1e9, 2)
        out["packages"] = len(env.meta["packages"])
    out["uv_cache_gb"] = round(envs._size(tmp / "uv-cache") / 1e9, 2)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--data-gb", type=float, default=1.0)
    parser.add_argument("--skip-build", action="store_true", help="skip figure 3 (downloads ~5 GB of wheels)")
    args = parser.parse_args()
    tmp = ROOT / "var" / "bench-environments"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    stores = NodeStores(env_root=tmp / "envs", data_root=tmp / "data", harness_cache=tmp / "bundles",
                        sources=envs.Sources.from_env())
    try:
        figures = per_job(stores, tmp, args.runs, args.data_gb)
        print(f"per job, none:        {figures['none_ms']:7.1f} ms (median of {args.runs})")
        print(f"per job, environment: {figures['environment_ms']:7.1f} ms  added {figures['environment_added_ms']:+.1f} ms")
        print(f"per job, {args.data_gb:g} GB data:  {figures['dataset_ms']:7.1f} ms  added {figures['dataset_added_ms']:+.1f} ms")
        if not args.skip_build:
            figures.update(builds(stores, tmp))
            print(f"cold build: {figures['cold_build_s']} s, warm build: {figures['warm_build_s']} s, "
                  f"{figures['packages']} packages, {figures['cold_size_gb']} GB each "
                  f"(hardlinked from a {figures['uv_cache_gb']} GB uv cache)")
        print(json.dumps(figures))
    finally:
        for folder, dirs, _files in os.walk(tmp):
            for d in dirs:
                os.chmod(os.path.join(folder, d), 0o755)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
