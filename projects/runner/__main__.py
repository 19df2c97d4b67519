"""``python -m projects.runner HARNESS SUBMISSION``: grade once, print the record as JSON.

Exit status 0 when grading completed (whatever the score); otherwise the code in
``runner.EXIT_CODES`` with a one-line reason on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from projects.runner.datasets import DatasetError, DatasetRef, tree_digest
from projects.runner.runner import EXIT_CODES, GradeStatus, NodeStores, grade


def build_parser(prog: str = "python -m projects.runner") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Grade one submission with a harness.")
    add_arguments(parser)
    return parser


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Shared with the grade_submission management command."""
    parser.add_argument("harness", type=Path, help="harness folder or zip (harness.toml at its root)")
    parser.add_argument("submission", type=Path, help="submission folder or zip")
    parser.add_argument("--gpu", type=int, default=None, help="host GPU index for gpus = 1 harnesses")
    parser.add_argument("--work-root", type=Path, default=None, help="where job folders are made")
    parser.add_argument("--python", default=None, help="interpreter for 'python' in harness commands")
    parser.add_argument("--threads", type=int, default=None, help="OMP/MKL threads per step")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--dataset", action="append", default=[], metavar="NAME=PATH",
                        help="a dataset the harness's [data] may name (folder, zip or tar); repeatable")


def datasets_from(values: list[str]) -> dict[str, DatasetRef]:
    """--dataset NAME=PATH options as refs (the version is computed from the files)."""
    refs = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise SystemExit(f"--dataset {value!r}: write NAME=PATH, e.g. --dataset cifar10=data/cifar10")
        source = Path(path)
        if not source.exists():
            raise SystemExit(f"--dataset {name}: {path} does not exist")
        try:
            version = tree_digest(source) if source.is_dir() else _archive_digest(source)
        except DatasetError as exc:
            raise SystemExit(f"--dataset {name}: {exc}") from None
        refs[name] = DatasetRef(name=name, version=version, source=source)
    return refs


def _archive_digest(source: Path) -> str:
    import tempfile

    from projects.runner.datasets import unpack_dataset

    with tempfile.TemporaryDirectory() as tmp:
        unpack_dataset(source, Path(tmp) / "d")
        return tree_digest(Path(tmp) / "d")


def run(options: argparse.Namespace, stdout, stderr, stores: NodeStores | None = None) -> tuple[int, str]:
    """Grade, write the JSON record to ``stdout`` (one write); return (exit status, reason).

    The reason is "" when grading completed.
    """
    log = None if options.quiet else (lambda line: print(f"[runner] {line}", file=stderr))
    record = grade(
        options.harness,
        options.submission,
        gpu=options.gpu,
        work_root=options.work_root,
        python=options.python,
        threads=options.threads,
        on_log=log,
        datasets=datasets_from(options.dataset),
        stores=stores,
    )
    stdout.write(json.dumps(record.as_dict(), indent=2) + "\n")
    if record.status is GradeStatus.COMPLETED:
        return 0, ""
    return EXIT_CODES[record.status], f"grading failed ({record.status.value}): {record.error}"


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    code, reason = run(options, sys.stdout, sys.stderr)
    if reason:
        print(reason, file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
