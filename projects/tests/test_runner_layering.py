"""The runner's modules import each other in one direction only, and never fork into Python.

contract <- stepio <- process, jail <- sandbox <- runner: a backend never
imports the dispatcher, and no module of the package imports one that
(directly or not) imports it back.  Imports inside functions count too: a
deferred import hides a cycle, it does not remove it.

No call passes ``preexec_fn``: Python code run between fork and exec in a
worker with live threads can deadlock (the CPython docs warn about it), so what
the child needs before exec is done by programs (``prlimit``, ``sh``) instead.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "runner"
PACKAGE = "projects.runner"


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(RUNNER.glob("*.py"))}


def _imports(tree: ast.Module, names: set[str]) -> set[str]:
    """Sibling modules ``tree`` imports, anywhere in the file."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 1 or base == PACKAGE:  # from . import x / from projects.runner import x
                found |= {alias.name for alias in node.names if alias.name in names}
            if node.level == 1 and base.split(".")[0] in names:  # from .x import y
                found.add(base.split(".")[0])
            if base.startswith(PACKAGE + "."):  # from projects.runner.x import y
                found.add(base.split(".")[2])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name.split(".")[2])
    return found & names


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    names = set(modules)
    return {name: _imports(tree, names) - {name} for name, tree in modules.items()}


def _reaches(graph: dict[str, set[str]], start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph[name]
    return seen


def test_the_graph_is_read_from_the_sources():
    graph = _graph()
    assert graph["sandbox"] >= {"contract", "jail", "process"}
    assert graph["jail"] >= {"contract", "stepio", "cgroups", "seccomp_filter"}


def test_no_module_of_the_runner_imports_itself_back():
    graph = _graph()
    cycles = sorted(name for name in graph if name in _reaches(graph, name))
    assert cycles == [], {name: sorted(graph[name]) for name in cycles}


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("contract", set()),
        ("stepio", {"contract"}),
        ("process", {"contract", "stepio"}),
        ("jail", {"contract", "stepio", "cgroups", "seccomp_filter"}),
    ],
)
def test_the_sandbox_layers_import_only_what_lies_below_them(module, allowed):
    assert _graph()[module] <= allowed


@pytest.mark.parametrize("module", ["contract", "stepio", "process", "jail", "sandbox"])
def test_each_layer_imports_first_in_a_fresh_interpreter(module):
    """The import order a worker may hit first works on its own (a cycle often breaks one order only)."""
    out = subprocess.run(
        [sys.executable, "-c", f"import {PACKAGE}.{module}"],
        capture_output=True, text=True, cwd=RUNNER.parents[1],
    )
    assert out.returncode == 0, out.stderr


def test_no_call_in_the_runner_runs_python_between_fork_and_exec():
    offenders = [
        f"{name}.py:{node.lineno}"
        for name, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and any(k.arg == "preexec_fn" for k in node.keywords)
    ]
    assert offenders == []
