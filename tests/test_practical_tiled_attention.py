"""tiled-attention: the grader's accuracy logic on the reference and on controls run in-process
(fast), and real grades through the runner, referee and contestants (slow)."""

from __future__ import annotations

import random
import time
from types import ModuleType
from typing import Any

import pytest
import torch

from quiz.lab.api import Check
from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from tests.lab_fixtures import (
    failed_checks,
    failed_names,
    graded_reference,
    practical_module,
    shipped_files,
)

PRACTICAL = "tiled-attention"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """Compute on one thread, as a contestant does: on a busy machine more threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class InProcessContestant:
    """Calls a solution's endpoints directly: enough to test the grader's accuracy logic."""

    def __init__(self, solution: ModuleType) -> None:
        task = practical_module(PRACTICAL, "attention_task.py")
        self.endpoints = task.serve(solution, None)

    def call(self, endpoint: str, *args: Any, timeout_s: float | None = None) -> Any:
        return self.endpoints[endpoint](*args)


class LogOnly:
    def log(self, message: str) -> None:
        pass


def accuracy(solution: str, seed: int = 1) -> Check:
    grader = practical_module(PRACTICAL, "grader.py")
    rng = random.Random(seed)
    contestant = InProcessContestant(practical_module(PRACTICAL, solution))
    return grader.accuracy_check(LogOnly(), contestant, grader.accuracy_cases(rng), rng)


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


@pytest.mark.parametrize("seed", [1, 2])
def test_reference_and_naive_pass_the_accuracy_check(seed: int) -> None:
    assert accuracy("reference.py", seed).passed, accuracy("reference.py", seed).message
    assert accuracy("baseline.py", seed).passed


@pytest.mark.parametrize(
    ("control", "says"),
    [
        ("controls/no_rescale.py", "max error"),
        ("controls/no_running_max.py", "NaN or infinite"),
        ("controls/bfloat16_tiles.py", "plain fp32 attention's is"),
    ],
)
def test_wrong_tilings_fail_the_accuracy_check_saying_why(control: str, says: str) -> None:
    check = accuracy(control)
    assert not check.passed
    assert says in check.message


def test_verify_rows_judges_a_random_subset_against_float64() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    reference = practical_module(PRACTICAL, "reference.py")
    case = grader.Case(1, 1, 2000, 2000, 64, True, 30.0, 1.0)
    inputs = grader.make_inputs(case, 7)
    out = reference.attention(inputs["q"], inputs["k"], inputs["v"], causal=True, softcap=30.0)
    out = out.clone()
    rows = torch.tensor([0, 5, 1023, 1999])
    grader.verify_rows(inputs, out, rows)
    out[0, 0, 1023, 3] += 1e-2
    with pytest.raises(AssertionError, match="max error"):
        grader.verify_rows(inputs, out, rows)
    with pytest.raises(AssertionError, match="expected torch.float32"):
        grader.verify_rows(inputs, out.double(), rows)


@pytest.mark.slow
def test_reference_passes() -> None:
    result = graded_reference(PRACTICAL)
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
    if name in ("starter", "control:library_kernel", "control:scores_in_a_buffer_from_import"):
        assert failed_names(result) >= {"peak extra memory at N=16384"}


class BusyContestant(InProcessContestant):
    """Reports CPU time as if its process tree kept ``cores`` cores busy."""

    def __init__(self, solution: ModuleType, cores: float) -> None:
        super().__init__(solution)
        self.cores = cores
        self.started = time.perf_counter()

    def cpu_seconds(self) -> float:
        return self.cores * (time.perf_counter() - self.started)


@pytest.mark.parametrize("cores", [1.0, 2.0])
def test_cores_used_is_cpu_time_over_wall_time(cores: float) -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    contestant = BusyContestant(practical_module(PRACTICAL, "reference.py"), cores)
    case = grader.Case(1, 1, 512, 512, 64, True, None, 1.0)
    measured = grader.cores_used(contestant, [grader.make_inputs(case, 3)] * 2)
    assert measured == pytest.approx(cores, rel=0.05)
