"""What a practical's grader sees: the spec, the grade context and the check it returns.

No torch here: the runner and catalog import this module in the UI process. The grade context is
built by the worker (which has torch) and handed to ``grader.grade(ctx)``.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    import torch

    from quiz.lab.harness import Harness

Phase = Literal["foundations", "core", "advanced"]
Level = Literal["L1", "L2", "L3", "L4"]


class SubmissionError(Exception):
    """The submission is wrong in a way that ends grading (wrong output, tampering, bad API)."""


class PracticalSpec(BaseModel):
    """``practicals/<id>/practical.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")
    title: str = Field(max_length=80)
    phase: Phase
    level: Level
    skills: list[str] = Field(default_factory=list)
    device: Literal["any", "cuda"] = "any"
    time_limit_s: float = Field(gt=0, le=3600)
    summary: str
    thresholds: dict[str, float] = Field(default_factory=dict)
    workspace_files: list[str] = Field(default_factory=list)
    time_budget_s: int = Field(default=900, ge=15, le=1800)
    # Address-space cap for the worker on CPU (MiB on top of what the worker already uses);
    # None leaves the lab's default (half the machine's memory).
    memory_limit_mb: int | None = Field(default=None, gt=0)


@dataclass
class Check:
    """One graded criterion: what was measured against what threshold, and whether it passed."""

    name: str
    passed: bool
    measured: float | int | str | None = None
    threshold: float | int | str | None = None
    unit: str = ""
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        return cls(
            name=str(data["name"]),
            passed=bool(data["passed"]),
            measured=data.get("measured"),
            threshold=data.get("threshold"),
            unit=str(data.get("unit", "")),
            message=str(data.get("message", "")),
        )


@dataclass
class GradeContext:
    """Everything ``grader.grade(ctx)`` gets. Built by the worker, one per grade."""

    practical: PracticalSpec
    practical_dir: Path
    submission_dir: Path
    seed: int  # secret, from os.urandom; never shown to the submission
    user_seed: int  # the workspace's per-user variant seed (.practical.json)
    device: torch.device
    harness: Harness
    log_sink: Callable[[str], None]
    verify_untampered: Callable[[], None]
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def thresholds(self) -> dict[str, float]:
        return self.practical.thresholds

    def log(self, message: str) -> None:
        """A progress line shown live to the user while grading."""
        self.log_sink(message)

    def load_submission(self) -> ModuleType:
        """Import ``solution.py`` fresh (a new module each call), then run the tamper guard.

        Raises SubmissionError when the file is missing, fails to import, or patched the timers
        or key torch functions.
        """
        path = self.submission_dir / "solution.py"
        if not path.is_file():
            raise SubmissionError(f"no solution.py in {self.submission_dir}")
        name = f"_submission_{uuid.uuid4().hex}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise SubmissionError(f"cannot import {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except (SubmissionError, MemoryError):
            del sys.modules[name]  # drop what the failed import holds on to
            raise
        except Exception as err:
            del sys.modules[name]
            raise SubmissionError(
                f"solution.py failed to import: {type(err).__name__}: {err}"
            ) from err
        self.verify_untampered()
        return module

    def require(self, module: ModuleType, name: str) -> Any:
        """The submission's attribute ``name``, or a SubmissionError saying it is missing."""
        value = getattr(module, name, None)
        if value is None:
            raise SubmissionError(f"solution.py must define {name}")
        return value


MAX_SLACK_PTS = 5.0  # at most this much extra tolerance for a grader's own measurement noise


def share_check(
    ctx: GradeContext,
    name: str,
    part: str,
    claimed: float,
    truth: dict[str, float],
    slack: dict[str, float],
    *,
    measured_by: str = "measured",
) -> Check:
    """The submission's claimed share (percent) of ``part`` against the grader's ``truth``:
    within the practical's ``share_tolerance_pts``, widened by ``slack[part]`` (half of the
    disagreement between the grader's own two measurements), at most MAX_SLACK_PTS."""
    actual = truth.get(part)
    if actual is None:
        return Check(name, False, claimed, None, "%", f"no {part!r} to compare")
    tolerance = ctx.thresholds["share_tolerance_pts"] + min(MAX_SLACK_PTS, slack[part])
    error = abs(claimed - actual)
    message = (
        f"{measured_by} {actual:.1f}% for {part}; yours is {error:.1f} points off "
        f"(allowed: {tolerance:.1f})"
    )
    return Check(name, error <= tolerance, round(claimed, 2), round(actual, 1), "%", message)
