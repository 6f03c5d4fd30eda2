"""Lab test helpers: tiny practicals written into a temp folder, and loading and grading the
shipped practicals."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest

from quiz.config import practicals_dir

if TYPE_CHECKING:
    from quiz.lab.runner import LabResult

README = """# {title}

Make `double(x)` return `2 * x`.

## Hints

### Hint 1
Multiply.

### Hint 2
By two.

### Hint 3
`return 2 * x`
"""

GRADER = """
import torch

from quiz.lab.api import Check, SubmissionError


def grade(ctx):
    ctx.log("starting the contestant")
    contestant = ctx.start_contestant("toy_driver:serve")
    x = torch.randn(64, generator=torch.Generator().manual_seed(ctx.seed % 2**31))
    out = contestant.call("double", x)
    ok = isinstance(out, torch.Tensor) and torch.equal(out, 2 * x)
    ctx.log("checked the output")
    return [Check("doubles", ok, message="" if ok else "double(x) != 2 * x")]
"""

DRIVER = """
def serve(solution, init):
    return {"double": solution.double}
"""

STARTER = "def double(x):\n    return x\n"
REFERENCE = "def double(x):\n    return 2 * x\n"


def write_practical(
    root: Path,
    practical_id: str = "toy",
    *,
    device: str = "any",
    grader: str = GRADER,
    time_limit_s: float = 30,
    readme: str = README,
) -> Path:
    folder = root / practical_id
    folder.mkdir(parents=True)
    spec = f"""
        id: {practical_id}
        title: Toy practical {practical_id}
        phase: foundations
        level: L1
        skills: [testing]
        device: {device}
        time_limit_s: {time_limit_s}
        summary: Double a tensor.
        thresholds: {{}}
        workspace_files: [helper.txt]
        public: [toy_driver.py]
        time_budget_s: 300
        memory_limit_mb: 1024
    """
    (folder / "practical.yaml").write_text(textwrap.dedent(spec), encoding="utf-8")
    (folder / "README.md").write_text(readme.format(title=practical_id), encoding="utf-8")
    (folder / "grader.py").write_text(grader, encoding="utf-8")
    (folder / "starter.py").write_text(STARTER, encoding="utf-8")
    (folder / "reference.py").write_text(REFERENCE, encoding="utf-8")
    (folder / "helper.txt").write_text("a helper file\n", encoding="utf-8")
    (folder / "toy_driver.py").write_text(DRIVER, encoding="utf-8")
    return folder


def shipped_files(practical_id: str) -> dict[str, Path]:
    """starter, reference and each control of a shipped practical, by name."""
    from quiz.lab.catalog import get_practical

    practical = get_practical(practical_id)
    files = {"starter": practical.file("starter.py"), "reference": practical.file("reference.py")}
    files.update({f"control:{c.stem}": c for c in practical.controls})
    return files


def graded_with_the_rerun_asked_for(grade: Callable[[], LabResult]) -> LabResult:
    """A grade, and a second one only when the first failed on inconclusive timings alone:
    the rerun an inconclusive grade's message asks the user for ("rerun on a quieter
    machine"). A check that failed outright, or a second inconclusive grade, still fails the
    test. Seen: int8-ptq's reference at 2.07x (95 % CI 1.85-2.29x against 2x) with one core
    busy, and in the fresh-clone CI's timing phase prefix-cache's time to first token at 3.45x
    (2.99-6.10x against 3x, 8 trials); both references pass on most grades. In one slow CI
    timing phase (12:46 against 5:38 on a quiet day): fused-kernel's reference at 1.57x over
    the fewest-pass torch ops (1.26-1.93x against 1.3x, 27 trials) and speculative-decoding's
    at 2.12x over greedy (1.35-2.89x against 1.5x, 40 trials)."""
    result = grade()
    undecided = [check for check in result.checks if not check.passed]
    if (
        result.error is None
        and undecided
        and all(
            check.inconclusive and not check.message.startswith("not gradable")
            for check in undecided
        )
    ):
        result = grade()
    return result


def graded_reference(practical_id: str) -> LabResult:
    """The shipped model solution graded as ``practical grade ID --reference`` grades it, with
    the one rerun an inconclusive grade asks for."""
    from quiz.lab.runner import grade_practical

    reference = shipped_files(practical_id)["reference"]
    return graded_with_the_rerun_asked_for(
        lambda: grade_practical(practical_id, reference, source="reference")
    )


def failed_checks(result: object) -> str:
    """A readable summary for assertion messages."""
    checks = getattr(result, "checks", [])
    lines = [f"{c.name}: {c.measured} vs {c.threshold} ({c.message})" for c in checks]
    return f"error={getattr(result, 'error', None)!r}; " + "; ".join(lines)


def support_module(practical_id: str, name: str) -> ModuleType:
    """A shipped practical's support module (``serving_engine``, ...), imported by its own name
    with the practical folder on sys.path only while importing, as the worker does."""
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(practicals_dir() / practical_id))
        return importlib.import_module(name)


def practical_module(practical_id: str, name: str) -> ModuleType:
    """A file of a shipped practical (``reference.py``, ``grader.py``, ``controls/x.py``), run
    under a module name of its own with the practical folder on sys.path only while importing,
    so its own imports of support modules resolve as they do in the worker (which also enters
    it in ``sys.modules``, as dataclasses need)."""
    folder = practicals_dir() / practical_id
    unique = f"_{practical_id.replace('-', '_')}_{Path(name).stem}"
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(folder))
        spec = importlib.util.spec_from_file_location(unique, folder / name)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        patch.setitem(sys.modules, unique, module)
        spec.loader.exec_module(module)
        return module


def grade_shipped(practical_id: str, target: Path, source: str) -> LabResult:
    """Grade ``target`` against a shipped practical through the real runner and worker."""
    from quiz.lab.runner import grade_practical

    return grade_practical(practical_id, target, source=source)


def failed_names(result: LabResult) -> set[str]:
    """The names of the checks a graded run failed."""
    return {c.name for c in result.checks if not c.passed}


def run_workspace_script(workspace: Path, *args: str) -> str:
    """Run a workspace's script (``serve.py``, ``profile_pipeline.py`` ...) as a user would, in
    the workspace; its stdout."""
    done = subprocess.run(
        [sys.executable, *args], cwd=workspace, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout
