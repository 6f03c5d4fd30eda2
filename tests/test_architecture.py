"""The layering rules of ARCHITECTURE.md, enforced."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

QUIZ = Path(__file__).resolve().parents[1] / "quiz"

# Modules that run only inside the lab's referee or contestant subprocesses and may import torch
# at the top.
TORCH_SIDE = {
    "quiz/lab/worker.py",
    "quiz/lab/harness.py",
    "quiz/lab/tinylm.py",
    "quiz/lab/collectives.py",  # in a rank contestant
    "quiz/lab/rank_group.py",  # in the referee
}


def imported_roots(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    roots: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def modules() -> list[Path]:
    return sorted(p for p in QUIZ.rglob("*.py") if "migrations" not in p.parts)


def rel(path: Path) -> str:
    return path.relative_to(QUIZ.parent).as_posix()


def test_only_the_tui_imports_textual() -> None:
    offenders = [
        rel(p)
        for p in modules()
        if not rel(p).startswith("quiz/tui/")
        and {"textual", "textual_plotext"} & imported_roots(p, top_level_only=False)
    ]
    assert offenders == []


def test_torch_is_imported_at_top_level_only_on_the_worker_side() -> None:
    offenders = [
        rel(p)
        for p in modules()
        if rel(p) not in TORCH_SIDE and "torch" in imported_roots(p, top_level_only=True)
    ]
    assert offenders == []


def test_nothing_below_the_front_ends_imports_them() -> None:
    lower = [
        p
        for p in modules()
        if not rel(p).startswith(("quiz/cli/", "quiz/tui/")) and rel(p) != "quiz/__main__.py"
    ]
    offenders = []
    for path in lower:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith(("quiz.cli", "quiz.tui"))
            ):
                offenders.append(rel(path))
    assert offenders == []


@pytest.mark.parametrize("module", ["quiz.cli", "quiz.tui", "quiz.lab.runner", "quiz.study"])
def test_front_end_processes_do_not_load_torch(module: str) -> None:
    code = (
        f"import sys, importlib; importlib.import_module({module!r}); print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
