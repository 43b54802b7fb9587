"""One way in (issue 12 item 15): the CLI parses arguments and renders; what a command does
goes through :class:`tradelake.platform.Platform`, so the CLI, the web app and the Airflow tasks
share one orchestration path.

Checked on the import graph: at run time, ``tradelake/cli/*.py`` may take from the layers that
do the work (``jobs``, ``features``, ``staging``, ``landing``, ``sources``) only the pure helpers
and constants listed here. Imports under ``if TYPE_CHECKING:`` are types only and allowed.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import tradelake.cli

CLI_DIR = Path(tradelake.cli.__file__).parent
WORKING_LAYERS = ("jobs", "features", "staging", "landing", "sources")

# (module, name) pairs a command may import at run time: none of them wires or runs a job.
PURE_HELPERS = {
    ("tradelake.jobs.ingest", "expand_paths"),  # counts the files a progress bar covers
    ("tradelake.jobs.vision", "image_files"),  # lists the screenshots given on the line
    ("tradelake.jobs.vision_evaluate", "LABELS_CSV"),  # a file name in the help text
    ("tradelake.jobs.demo", "DEMO_FILES"),  # what the demo generated, in words
    ("tradelake.jobs.demo", "DEMO_STEPS"),  # the length of the demo's progress bar
}


def runtime_imports(tree: ast.Module) -> Iterator[tuple[str, str, int]]:
    """(module, name, line) of every import outside ``if TYPE_CHECKING:`` blocks."""
    typing_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            typing_only.update(id(child) for part in node.body for child in ast.walk(part))
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                yield node.module, alias.name, node.lineno
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, "", node.lineno


def working_layer(module: str, name: str) -> str | None:
    """The working layer ``module`` (or ``from tradelake import <name>``) belongs to."""
    parts = module.split(".")
    if parts == ["tradelake"]:
        parts = ["tradelake", name]
    if len(parts) >= 2 and parts[0] == "tradelake" and parts[1] in WORKING_LAYERS:
        return parts[1]
    return None


def offending_imports(source: str) -> list[str]:
    found = sorted(
        (line, f"from {module} import {name}" if name else f"import {module}")
        for module, name, line in runtime_imports(ast.parse(source))
        if working_layer(module, name) and (module, name) not in PURE_HELPERS
    )
    return [f"line {line}: {text}" for line, text in found]


def test_cli_modules_reach_the_working_layers_only_through_the_platform() -> None:
    modules = sorted(CLI_DIR.glob("*.py"))
    assert {m.name for m in modules} >= {"desk.py", "demo.py", "feeds.py", "common.py"}
    problems = {
        module.name: found
        for module in modules
        if (found := offending_imports(module.read_text(encoding="utf-8")))
    }
    assert problems == {}, (
        f"the CLI wires jobs itself; add a Platform method and call it instead: {problems}"
    )


def test_the_check_catches_what_it_is_for() -> None:
    """The check itself can fail: orchestration imports are caught, types and helpers pass."""
    source = (
        "from typing import TYPE_CHECKING\n"
        "from tradelake.jobs.watch import watch\n"
        "from tradelake import jobs\n"
        "import tradelake.features.store\n"
        "if TYPE_CHECKING:\n"
        "    from tradelake.jobs.pull import PullResult\n"
        "def f():\n"
        "    from tradelake.jobs.demo import run_demo, DEMO_STEPS\n"
        "    from tradelake.jobs.ingest import expand_paths\n"
    )
    assert offending_imports(source) == [
        "line 2: from tradelake.jobs.watch import watch",
        "line 3: from tradelake import jobs",
        "line 4: import tradelake.features.store",
        "line 8: from tradelake.jobs.demo import run_demo",
    ]
