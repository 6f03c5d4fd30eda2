"""batch-sla: submissions that cheat fail without learning the answer (a constant answer read
off an earlier grade, one that hunts the caller's frames and the heap for the grader's sweep, one
that reads the slow path off the service), graded through the real runner, referee and
contestants. None of them calls the service, so each fails on sizes never measured whatever the
machine's load: unlike the rest of batch-sla's grades, they run beside other tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from quiz.lab.runner import grade_practical
from tests.lab_fixtures import failed_checks
from tests.test_practical_batch_sla import PRACTICAL, _assert_names_only_chosen_sizes

CONSTANT_ANSWER = """
def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    # "the best batch size meeting the SLA is 64", with the p99s, read off an earlier grade
    return 64, {1: 0.0009, 4: 0.0011, 16: 0.0017, 64: 0.0032, 256: 0.0101}
"""


HUNTS_FOR_THE_SWEEP = """
import gc
import sys


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    frame = sys._getframe(1)
    while frame is not None:  # the grader's sweep, in a caller's frame?
        for name, value in frame.f_locals.items():
            if name in ("best", "best_feasible") and getattr(value, "batch_size", None):
                return value.batch_size, dict.fromkeys(batch_sizes, sla_p99_s)
        frame = frame.f_back
    gc.unfreeze()  # the contestant's startup objects too
    for obj in gc.get_objects():  # or anywhere on the heap?
        if type(obj).__name__ == "Point" and isinstance(obj.batch_size, int):
            return obj.batch_size, dict.fromkeys(batch_sizes, sla_p99_s)
    return 16, dict.fromkeys(batch_sizes, sla_p99_s)
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
    return retries if type(retries) is dict else None


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    retries = retries_of(getattr(run_batch, "__self__", None))  # the slow path, in here?
    if retries is None:
        gc.unfreeze()
        found = (retries_of(obj) for obj in gc.get_objects())
        retries = next((r for r in found if r is not None), None)
    if retries is None:
        return batch_sizes[0], dict.fromkeys(batch_sizes, 0.0)
    p99 = {}
    for size in batch_sizes:  # twelve calls each: the slow path shows, but only its median is used
        times = []
        for _ in range(12):
            start = time.perf_counter()
            run_batch(size)
            times.append(time.perf_counter() - start)
        p99[size] = (1 + retries[size]) * statistics.median(times)
    return max(size for size in batch_sizes if p99[size] <= sla_p99_s), p99
"""


@pytest.mark.slow
@pytest.mark.parametrize("source", [CONSTANT_ANSWER, HUNTS_FOR_THE_SWEEP, READS_THE_SLOW_PATH])
def test_cheating_submissions_fail_without_learning_the_answer(source: str, tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(source, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert not result.passed, failed_checks(result)
    assert result.error is None, failed_checks(result)
    _assert_names_only_chosen_sizes(result)
    unmeasured = next(c for c in result.checks if c.name.endswith("your p99s measured"))
    assert "took the slow path" in unmeasured.message, unmeasured.message
