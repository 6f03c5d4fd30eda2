"""paged-kv-cache: the grader's checks run in-process on the reference and the controls (fast),
and real grades through the runner, referee and contestants (slow)."""

from __future__ import annotations

import random
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import torch

from quiz.lab.api import Check
from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from tests.lab_fixtures import failed_checks, failed_names, practical_module, shipped_files

PRACTICAL = "paged-kv-cache"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]
INIT = {"num_blocks": 256, "block_size": 16}


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """Decode on one thread, as a contestant does: small ops on more threads only contend."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class InProcessContestant:
    """Calls a solution's endpoints directly: enough to test the grader's logic."""

    def __init__(self, solution: ModuleType) -> None:
        self.endpoints = practical_module(PRACTICAL, "paged_model.py").serve(solution, INIT)

    def call(self, endpoint: str, *args: Any, timeout_s: float | None = None) -> Any:
        return self.endpoints[endpoint](*args)

    def memory(self) -> Any:
        return SimpleNamespace(uss=0)  # one process for all: memory is checked in real grades


class LogOnly:
    thresholds = {"min_concurrency_ratio": 2.0}
    details: dict[str, Any] = {}

    def log(self, message: str) -> None:
        pass


def run_check(check: str, solution: str, seed: int = 3) -> tuple[Check, Any]:
    grader = practical_module(PRACTICAL, "grader.py")
    model = practical_module(PRACTICAL, "paged_model.py").build_model()
    audit = grader.Audit()
    contestant = InProcessContestant(practical_module(PRACTICAL, solution))
    rng = random.Random(seed)
    if check == "capacity":
        base = InProcessContestant(practical_module(PRACTICAL, "baseline.py"))
        result = grader.capacity_check(LogOnly(), base, contestant, model, rng, audit)
    else:
        result = getattr(grader, f"{check}_check")(LogOnly(), contestant, model, rng, audit)
    return result, audit


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_reference_passes_tokens_fork_and_waste() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    tokens, audit = run_check("tokens", "reference.py")
    assert tokens.passed, tokens.message
    assert grader.waste_check(audit).passed
    fork, _ = run_check("fork", "reference.py")
    assert fork.passed, fork.message


def test_reference_serves_over_twice_the_reserving_cache() -> None:
    check, audit = run_check("capacity", "reference.py")
    assert check.passed, check.message
    assert isinstance(check.measured, float) and check.measured >= 2.5
    assert audit.tables_seen > 0


def test_no_table_seen_is_no_pass_on_waste() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    assert not grader.waste_check(grader.Audit()).passed


@pytest.mark.parametrize(
    ("control", "says"),
    [
        ("controls/no_copy_on_write.py", "did one branch write into a block the other still reads"),
        ("controls/fork_copies_everything.py", "the child shares 0 of the parent's"),
        ("controls/spare_blocks.py", "past their common prefix are still in both tables"),
        ("controls/fork_claims_sharing.py", "blocks are held that no table shows"),
    ],
)
def test_broken_forks_fail_saying_why(control: str, says: str) -> None:
    with pytest.raises(AssertionError, match=says):
        run_check("fork", control)


def test_spare_blocks_fail_the_waste_check() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    _, audit = run_check("tokens", "controls/spare_blocks.py")
    check = grader.waste_check(audit)
    assert not check.passed and "unused positions" in check.message


def test_hidden_reservation_is_caught_by_the_trace() -> None:
    check, _ = run_check("capacity", "controls/hidden_reservation.py")
    assert not check.passed
    assert "or holds blocks that no table shows" in check.message


def test_leaked_blocks_run_out_in_the_trace() -> None:
    with pytest.raises(AssertionError, match="got no block"):
        run_check("capacity", "controls/leaky_free.py")


@pytest.mark.slow
def test_reference_passes() -> None:
    result = grade_practical(PRACTICAL, FILES["reference"], source="reference")
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
    if name == "starter":
        assert failed_names(result) >= {"waste per sequence below one block"}
