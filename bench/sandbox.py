"""How much does the jail add to a step?  ``python -c pass`` bare vs. in the sandbox.

    .venv/bin/python bench/sandbox.py [--runs 30]

Both are timed in the same run, as the median of ``--runs`` runs; the sandbox
figure is ``run_step``'s whole cost as the runner sees it (cgroups made and
removed, bubblewrap, setpriv, seccomp, the wait).  Goal: under 100 ms added.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from projects.runner import sandbox  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    argv = [sys.executable, "-c", "pass"]

    bare = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, env={})
        bare.append(time.perf_counter() - started)

    boxed = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):
            started = time.perf_counter()
            result = sandbox.run_step(argv, root=Path(tmp), env={}, limits=sandbox.Limits())
            boxed.append(time.perf_counter() - started)
            if result.status is not sandbox.Status.OK:
                sys.exit(f"sandboxed run failed: {result.status.value} {result.detail} {result.stderr}")

    info = sandbox.backend_info()
    bare_ms = statistics.median(bare) * 1000
    boxed_ms = statistics.median(boxed) * 1000
    print(f"backend:   {info['backend']} ({', '.join(info['mechanisms'])})")
    print(f"bare:      {bare_ms:7.1f} ms  (median of {args.runs})")
    print(f"sandboxed: {boxed_ms:7.1f} ms  (median of {args.runs})")
    print(f"added:     {boxed_ms - bare_ms:7.1f} ms")
    print(
        json.dumps(
            {
                "bare_ms": round(bare_ms, 1),
                "sandboxed_ms": round(boxed_ms, 1),
                "added_ms": round(boxed_ms - bare_ms, 1),
                "runs": args.runs,
                "backend": info["backend"],
            }
        )
    )


if __name__ == "__main__":
    main()
