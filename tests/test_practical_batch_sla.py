"""batch-sla: the reference passes, the starter and every control fail, and so do submissions
that cheat (a constant answer read off an earlier grade, one that hunts the caller's frames and
the heap for the grader's sweep, one that reads the slow path off the service); graded through the real runner, referee and contestants. A
failing grade names only the user's batch size, never the right one. The fast tests check how
the SLAs are placed."""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from quiz.lab.catalog import get_practical
from quiz.lab.runner import LabResult, grade_practical
from tests.lab_fixtures import failed_checks, practical_module, shipped_files

PRACTICAL = "batch-sla"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]

CONSTANT_ANSWER = """
def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    return 64  # "the best batch size meeting the SLA is 64", read off an earlier grade
"""

HUNTS_FOR_THE_SWEEP = """
import gc
import sys


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    frame = sys._getframe(1)
    while frame is not None:  # the grader's sweep, in a caller's frame?
        for name, value in frame.f_locals.items():
            if name in ("best", "best_feasible") and getattr(value, "batch_size", None):
                return value.batch_size
        frame = frame.f_back
    gc.unfreeze()  # the contestant's startup objects too
    for obj in gc.get_objects():  # or anywhere on the heap?
        if type(obj).__name__ == "Point" and isinstance(obj.batch_size, int):
            return obj.batch_size
    return 16
"""


READS_THE_SLOW_PATH = """
import gc
import statistics
import time


def retries_of(obj):
    try:
        retries = getattr(obj, "_retries", None)
    except Exception:  # some objects load libraries on attribute access
        return None
    return retries if type(retries) is int else None


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    retries = retries_of(getattr(run_batch, "__self__", None))  # the slow path, in here?
    if retries is None:
        gc.unfreeze()
        found = (retries_of(obj) for obj in gc.get_objects())
        retries = next((r for r in found if r is not None), None)
    if retries is None:
        return batch_sizes[0]
    p99 = {}
    for size in batch_sizes:  # twelve calls each: the slow path shows, but only its median is used
        times = []
        for _ in range(12):
            start = time.perf_counter()
            run_batch(size)
            times.append(time.perf_counter() - start)
        p99[size] = (1 + retries) * statistics.median(times)
    return max(size for size in batch_sizes if p99[size] <= sla_p99_s)
"""


@pytest.fixture
def grader(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """grader.py, importing this practical's baseline.py (not another practical's)."""
    monkeypatch.delitem(sys.modules, "baseline", raising=False)
    return practical_module(PRACTICAL, "grader.py")


def _points(grader: ModuleType, curve: Mapping[int, tuple[float, float]]) -> dict[int, Any]:
    """{batch size: Point} from {batch size: (p99 ms, throughput)}."""
    return {
        size: grader.Point(size, p99_ms / 3e3, p99_ms / 1e3, throughput)
        for size, (p99_ms, throughput) in curve.items()
    }


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_slas_have_different_best_batch_sizes_between_clearly_apart_p99s(
    grader: ModuleType,
) -> None:
    curve = {1: (0.5, 2000), 4: (0.9, 7000), 16: (2.5, 15000), 64: (9.0, 22000), 256: (40, 24000)}
    points = _points(grader, curve)
    slas = grader.place_slas(points, 6e-3, 2)
    assert len(slas) == 2
    bests = set()
    for sla in slas:
        feasible = [p for p in points.values() if p.p99_s <= sla]
        missing = [p for p in points.values() if p.p99_s > sla]
        assert max(p.p99_s for p in feasible) * 1.3 < sla < min(p.p99_s for p in missing) / 1.3
        bests.add(max(feasible, key=lambda p: p.throughput).batch_size)
    assert len(bests) == 2


def test_an_sla_whose_best_repeats_another_is_not_asked(grader: ModuleType) -> None:
    # Batch 16 out-serves 64 and 256: every SLA admitting 16 has the same best.
    curve = {1: (0.5, 2000), 4: (0.9, 7000), 16: (2.5, 15000), 64: (9.0, 6000), 256: (40, 9000)}
    points = _points(grader, curve)
    slas = grader.place_slas(points, 6e-3, 2)
    bests = [
        max((p for p in points.values() if p.p99_s <= sla), key=lambda p: p.throughput)
        for sla in slas
    ]
    assert sorted(p.batch_size for p in bests) == [4, 16]


def test_a_batch_size_whose_slow_path_was_never_called_was_not_measured(
    grader: ModuleType,
) -> None:
    """Red-teamed: three calls per batch size and a guessed slow-path factor passed about half
    the grades; the referee serves every call and counts the slow ones."""
    service = grader.Service(7, torch.device("cpu"), 3)
    serve = grader.served_by(service)
    for _ in range(10):  # ten calls in a row take the slow path once
        serve({"run_batch": 16})
    for _ in range(3):
        serve({"run_batch": 64})
    measured = grader._tail_check("p99 measured", service, 16)
    assert measured.passed and measured.measured == 1
    guessed = [grader._tail_check("p99 measured", service, size) for size in (1, 64)]
    assert [check.passed for check in guessed] == [False, service.slow_calls[64] > 0]
    assert "never measured" in guessed[0].message
    for bad in ({"run_batch": 3}, {"run_batch": True}, {"batch": 16}, 16):
        with pytest.raises(grader.Refused):
            serve(bad)


def _assert_names_only_chosen_sizes(result: LabResult) -> None:
    assert "answer" not in result.details, "the answer is revealed only after a pass"
    chosen = {str(size) for size in result.details.get("chosen", [])}
    for check in result.checks:
        named = set(re.findall(r"batch (\d+)", check.message))
        assert named <= chosen, f"{check.name} names another batch size: {check.message}"


@pytest.mark.slow
def test_reference_passes() -> None:
    result = grade_practical(PRACTICAL, FILES["reference"], source="reference")
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60
    assert result.details["answer"], "a pass shows the grader's sweep and answers"


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
    _assert_names_only_chosen_sizes(result)


@pytest.mark.slow
@pytest.mark.parametrize("source", [CONSTANT_ANSWER, HUNTS_FOR_THE_SWEEP, READS_THE_SLOW_PATH])
def test_cheating_submissions_fail_without_learning_the_answer(source: str, tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(source, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert not result.passed, failed_checks(result)
    assert result.error is None, failed_checks(result)
    _assert_names_only_chosen_sizes(result)
