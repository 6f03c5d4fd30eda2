"""batch-sla: the reference passes, the starter and every control fail (cheating submissions:
test_practical_batch_sla_cheats.py); graded through the real runner, referee and contestants. A failing grade names only the user's batch size,
never the right one. The fast tests check how the SLAs are placed and how reported p99s are
held against the calls a submission made."""

from __future__ import annotations

import math
import random
import re
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from quiz.lab.api import SubmissionError
from quiz.lab.catalog import get_practical
from quiz.lab.runner import LabResult, grade_practical
from tests.lab_fixtures import (
    failed_checks,
    graded_reference,
    practical_module,
    shipped_files,
    support_module,
)

PRACTICAL = "batch-sla"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]

THREADS_FIRST = """

import threading

import numpy


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    def load(size):
        for _ in range(50):
            run_batch(size)

    sizes = numpy.asarray(batch_sizes)  # numpy integers, to run_batch and back
    threads = [threading.Thread(target=load, args=(size,)) for size in sizes[:3]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    chosen, p99_s = measure_and_choose(run_batch, batch_sizes, sla_p99_s)
    return numpy.int64(chosen), {numpy.int64(size): p99 for size, p99 in p99_s.items()}
"""

OLD_FORM = """
def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    return batch_sizes[1]  # the batch size alone, as the practical once asked
"""


@pytest.fixture
def grader(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """grader.py, importing this practical's baseline.py (not another practical's)."""
    monkeypatch.delitem(sys.modules, "baseline", raising=False)
    return practical_module(PRACTICAL, "grader.py")


def _points(grader: ModuleType, curve: Mapping[int, tuple[float, float]]) -> dict[int, Any]:
    """{batch size: Point} from {batch size: (p99 ms, throughput)}."""
    return {
        size: grader.Point(size, p99_ms / 3e3, p99_ms / 1e3, throughput, throughput)
        for size, (p99_ms, throughput) in curve.items()
    }


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def _assert_clear_of_the_p99s_that_decide(points: Mapping[int, Any], sla: Any) -> None:
    """The SLA's best size meets it and every larger size misses it, each by at least the
    square root of MIN_P99_STEP: noise cannot flip them."""
    margin = 1.41
    assert points[sla.best].p99_s * margin < sla.seconds
    for size, point in points.items():
        if size > sla.best:
            assert sla.seconds < point.p99_s / margin


def test_slas_have_different_best_batch_sizes_between_clearly_apart_p99s(
    grader: ModuleType,
) -> None:
    curve = {1: (0.5, 2000), 4: (0.9, 7000), 16: (2.5, 15000), 64: (9.0, 22000), 256: (40, 24000)}
    points = _points(grader, curve)
    slas = grader.place_slas(points, 6e-3, 2, 0.9)
    assert len(slas) == 2 and len({sla.best for sla in slas}) == 2
    for sla in slas:
        feasible = [p for p in points.values() if p.p99_s <= sla.seconds]
        assert sla.best == max(feasible, key=lambda p: p.throughput).batch_size
        _assert_clear_of_the_p99s_that_decide(points, sla)


def test_an_sla_whose_best_repeats_another_is_not_asked(grader: ModuleType) -> None:
    # Batch 16 out-serves 64 and 256: every SLA admitting 16 has the same best.
    curve = {1: (0.5, 2000), 4: (0.9, 7000), 16: (2.5, 15000), 64: (9.0, 6000), 256: (40, 9000)}
    points = _points(grader, curve)
    slas = grader.place_slas(points, 6e-3, 2, 0.9)
    bests = [
        max((p for p in points.values() if p.p99_s <= sla.seconds), key=lambda p: p.throughput)
        for sla in slas
    ]
    assert sorted(p.batch_size for p in bests) == [4, 16] == sorted(sla.best for sla in slas)


def test_no_batch_size_is_accepted_by_both_slas_by_either_throughput_measure(
    grader: ModuleType,
) -> None:
    """Batch 256's 16x slow path makes 64 the best sustained size under any SLA 256 meets, so
    an SLA for 256 and one for 64 would both accept a constant 64: the grader asks for 16's
    instead."""
    rates = {1: (2000, 1800), 4: (7000, 6000), 16: (15000, 13000), 64: (32000, 27000)}
    rates[256] = (43000, 20000)
    p99_ms = {1: 0.5, 4: 0.9, 16: 2.5, 64: 9.0, 256: 40}
    points = {
        size: grader.Point(size, p99_ms[size] / 3e3, p99_ms[size] / 1e3, *rates[size])
        for size in rates
    }
    slas = grader.place_slas(points, 6e-2, 2, 0.9)  # nearest: the SLA for 256, then 64's
    assert len(slas) == 2
    assert not slas[0].accepted & slas[1].accepted
    assert {sla.best for sla in slas} == {16, 256}
    assert 64 in next(sla for sla in slas if sla.best == 256).accepted


def test_slas_are_placed_by_the_p99s_of_the_best_size_and_the_larger_ones(
    grader: ModuleType,
) -> None:
    """The slow path's cost is drawn per batch size, so batch 4 can have a longer p99 than 16.
    Whether 4 meets an SLA that 16 meets does not change the answer (16 serves more), so only
    16's p99 and those of the larger sizes must be clear of it."""
    curve = {1: (0.5, 2000), 4: (3.0, 7000), 16: (1.2, 15000), 64: (9.0, 22000), 256: (40, 24000)}
    points = _points(grader, curve)
    slas = grader.place_slas(points, 6e-3, 2, 0.9)
    assert {sla.best for sla in slas} == {16, 64}
    for sla in slas:
        _assert_clear_of_the_p99s_that_decide(points, sla)
    sla_16 = next(sla for sla in slas if sla.best == 16)
    assert points[4].p99_s < sla_16.seconds < 1.2 * points[4].p99_s


def test_every_sla_is_met_by_its_best_size_where_only_unclear_steps_are_left(
    grader: ModuleType,
) -> None:
    """An earlier placement put an SLA under every p99 when the clearest step left was under
    1.5x, and the grader crashed on it."""
    curve = {1: (9.0, 2000), 4: (1.0, 7000), 16: (1.4, 15000), 64: (1.5, 22000), 256: (1.6, 24000)}
    points = _points(grader, curve)
    for target_s in (1e-3, 2e-3, 5e-3):
        for sla in grader.place_slas(points, target_s, 2, 0.9):
            assert points[sla.best].p99_s < sla.seconds


def test_slow_paths_are_drawn_per_batch_size_and_never_all_alike(grader: ModuleType) -> None:
    rng = random.Random(3)
    draws = [grader.draw_slow_paths(rng) for _ in range(400)]
    assert all(len(set(draw.values())) > 1 for draw in draws)
    for size in grader.BATCH_SIZES:
        assert {draw[size] for draw in draws} == set(grader.SLOW_PATH_RETRIES)


def _served(grader: ModuleType, retries: Mapping[int, int]) -> tuple[Any, dict[int, list[float]]]:
    """A service with these slow paths, warmed up, then called ten times in a row per batch
    size through the referee's side of run_batch, and the latencies as a caller in this process
    timed those ten."""
    service = grader.Service(7, torch.device("cpu"), retries)
    serve = grader.served_by(service)
    for size in grader.BATCH_SIZES:
        for _ in range(3):
            serve({"run_batch": size})
    timed: dict[int, list[float]] = {size: [] for size in grader.BATCH_SIZES}
    for size in grader.BATCH_SIZES:
        for _ in range(10):  # ten calls in a row take the slow path once
            start = time.perf_counter()
            serve({"run_batch": size})
            timed[size].append(time.perf_counter() - start)
    return service, timed


def test_reported_p99s_must_agree_with_the_calls_made(grader: ModuleType) -> None:
    """Red-teamed: a submission that called every size a dozen times and took each p99 as a
    multiple of the median passed whenever its multiple was near the grade's one slow-path
    factor. Now each size has its own, and the referee holds each reported p99 against how
    long the service served that size's slow calls."""
    retries = {1: 1, 4: 7, 16: 3, 64: 1, 256: 7}
    service, timed = _served(grader, retries)
    measured = {size: max(latencies) for size, latencies in timed.items()}
    honest = grader.report_check("p99s measured", service, measured, 0.0)
    assert honest.passed and honest.measured == 5, honest.message

    guessed = {size: 4 * statistics.median(latencies) for size, latencies in timed.items()}
    check = grader.report_check("p99s measured", service, guessed, 0.0)
    assert not check.passed
    for size in (4, 256):  # 8x slow paths: four times the median is far under them
        assert f"batch {size}: your p99 {guessed[size] * 1e3:.2f} ms is under" in check.message


def test_a_p99_must_lie_between_the_slow_path_and_the_slowest_call(grader: ModuleType) -> None:
    service = grader.Service(7, torch.device("cpu"), dict.fromkeys(grader.BATCH_SIZES, 1))
    for size in grader.BATCH_SIZES:  # as the service served them: nine fast calls, one slow
        service.fast_s[size][:] = [1e-3 * size] * 9
        service.slow_s[size][:] = [2e-3 * size]
    trip_s = 5e-4
    lowest = {size: 0.8 * 2e-3 * size for size in grader.BATCH_SIZES}
    highest = {size: 1.3 * (2e-3 * size + trip_s) for size in grader.BATCH_SIZES}
    for edge in (lowest, highest):
        assert grader.report_check("p99s", service, edge, trip_s).passed
    outside = {**lowest, 4: 0.99 * lowest[4], 64: 1.01 * highest[64]}
    check = grader.report_check("p99s", service, outside, trip_s)
    assert (check.passed, check.measured) == (False, 3)
    assert check.message == (
        "batch 4: your p99 6.34 ms is under its slow path, which took 8.00 ms or more in the "
        "service in your slow call; batch 64: your p99 168.72 ms is more than the service "
        "accounts for: no call of it took over 128.00 ms to serve, and the round trip adds about "
        "0.50 ms; your timing counted a delay outside the service (a cold first call, another "
        "process, a hiccup in one pass: the lowest per-pass p99 after a warm-up leaves those "
        "out, hints 1 and 2), or a percentile method extrapolated past your slowest sample "
        "(statistics.quantiles' default does on small samples)"
    )
    in_milliseconds = {**lowest, 16: 1e3 * 2e-3 * 16}
    assert (
        "is it in milliseconds?" in grader.report_check("p99s", service, in_milliseconds, 0).message
    )


def test_any_pass_of_ten_to_nineteen_calls_in_a_row_reports_a_p99_that_agrees(
    grader: ModuleType,
) -> None:
    """Red-teamed: the reference with 15 calls per pass reported 0.88x the slow call at the 16x
    slow path (a pass then holds one slow call, and interpolation stops short of it), and the
    first lower bound, 0.9x, failed it."""
    baseline = sys.modules["baseline"]
    service = grader.Service(7, torch.device("cpu"), dict.fromkeys(grader.BATCH_SIZES, 15))
    fast_s, slow_s = 1e-3, 16e-3
    for size in grader.BATCH_SIZES:
        service.fast_s[size][:] = [fast_s] * 18
        service.slow_s[size][:] = [slow_s]
    for calls in range(10, 20):
        p99 = baseline.percentile([fast_s] * (calls - 1) + [slow_s], 99)
        reported = dict.fromkeys(grader.BATCH_SIZES, p99)
        assert grader.report_check("p99s", service, reported, 0.0).passed, calls


def test_a_batch_size_whose_slow_path_was_never_called_was_not_measured(
    grader: ModuleType,
) -> None:
    """Red-teamed: three calls per batch size and a guessed slow-path factor passed about half
    the grades; the referee serves every call and knows which were slow."""
    service = grader.Service(7, torch.device("cpu"), dict.fromkeys(grader.BATCH_SIZES, 3))
    serve = grader.served_by(service)
    for _ in range(10):
        serve({"run_batch": 16})
    for _ in range(3):
        serve({"run_batch": 64})
    reported = dict.fromkeys(grader.BATCH_SIZES, 4 * max(service.slow_s[16]))
    check = grader.report_check("p99s measured", service, reported, 0.0)
    assert not check.passed
    assert "0 of batch 1, 0 of batch 4" in check.message and "never measured" in check.message
    assert ("3 of batch 64" in check.message) == (not service.slow_s[64])
    for bad in ({"run_batch": 3}, {"run_batch": True}, {"batch": 16}, 16):
        with pytest.raises(grader.Refused):
            serve(bad)


def test_the_round_trip_is_what_a_caller_waits_beyond_the_serving(grader: ModuleType) -> None:
    service, _ = _served(grader, dict.fromkeys(grader.BATCH_SIZES, 1))
    served = {
        size: statistics.median(service.fast_s[size] + service.slow_s[size])
        for size in grader.BATCH_SIZES
    }
    points = {
        size: grader.Point(
            size, served[size] + 2e-4, 3 * served[size], size / served[size], size / served[size]
        )
        for size in grader.BATCH_SIZES
    }
    assert grader.round_trip(points, service) == pytest.approx(2e-4)


class _Thresholds:
    thresholds = {"throughput_fraction_of_best": 0.9}


def test_a_size_passes_on_sustained_throughput_when_slow_calls_make_it_the_best(
    grader: ModuleType,
) -> None:
    """Red-teamed: requests over total time (b / mean latency) is an honest 'requests per
    second' too; with a 16x slow path on batch 256 and a 2x one on 64, batch 64 sustains more,
    and a submission choosing it by that measure failed the check on b / median alone."""
    points = {
        64: grader.Point(64, 2e-3, 5e-3, 32000, 27000),
        256: grader.Point(256, 6e-3, 9e-2, 43000, 20000),
    }
    sustained = grader._throughput_check(_Thresholds(), "throughput", points, 64, 0.1)
    assert sustained.passed and sustained.measured == 100.0
    assert "27000 req/s sustained, 100% of the best" in sustained.message
    between = grader._throughput_check(_Thresholds(), "throughput", points, 256, 0.1)
    assert between.passed and "43000 req/s between flushes" in between.message
    points[16] = grader.Point(16, 1e-3, 2e-3, 16000, 14000)
    short = grader._throughput_check(_Thresholds(), "throughput", points, 16, 0.1)
    assert not short.passed
    assert short.message.startswith("batch 16: 14000 req/s sustained, 52% of the best")
    assert "(37% between flushes); another batch size" in short.message


def test_a_broken_sla_blames_the_slow_calls_only_when_the_median_meets_it(
    grader: ModuleType,
) -> None:
    tail = grader._sla_check("SLA", grader.Point(64, 2e-3, 5e-3, 32000, 27000), 3e-3)
    assert not tail.passed and "(its median is 2.00 ms: the slow calls set the p99)" in tail.message
    median = grader._sla_check("SLA", grader.Point(64, 2e-3, 5e-3, 32000, 27000), 1e-3)
    assert not median.passed and median.message.endswith("(its median, 2.00 ms, breaks it too)")
    assert grader._sla_check("SLA", grader.Point(64, 2e-3, 5e-3, 32000, 27000), 6e-3).passed


def test_a_size_breaking_the_sla_fails_the_throughput_check_too(grader: ModuleType) -> None:
    """Its throughput is over 100% of the best meeting the SLA, which read as a pass ('215%')."""
    points = {
        16: grader.Point(16, 1e-3, 2e-3, 16000, 14000),
        64: grader.Point(64, 2e-3, 5e-3, 32000, 27000),
    }
    check = grader._throughput_check(_Thresholds(), "throughput", points, 64, 3e-3)
    assert not check.passed and check.measured is None
    assert (
        check.message == "batch 64 breaks the SLA, so none of its throughput is on offer under it"
    )
    assert grader._throughput_check(_Thresholds(), "throughput", points, 16, 3e-3).passed


class _Replies:
    """Stands in for the grade context: each contestant it starts replies ``reply``."""

    def __init__(self, reply: Any) -> None:
        self.reply = reply

    def start_contestant(self, *_: Any) -> _Replies:
        return self

    def call(self, *_: Any, **__: Any) -> Any:
        return self.reply

    def close(self) -> None:
        pass


GOOD_P99S = {"1": 0.001, "4": 0.002, "16": 0.003, "64": 0.004, "256": 0.005}


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ({"returned": "16"}, "must return (batch_size, p99_s), p99_s a dict of the p99 you "),
        ([16, "[0.001, 0.002]"], "p99_s must be a dict {batch size: p99 in seconds}, not [0.001"),
        ([16, {**GOOD_P99S, "b512": 0.1}], "its keys are 1, 4, 16, 64, 256, b512"),
        ([16, {**GOOD_P99S, "4": "'fast'"}], "p99_s[4] must be a number of seconds, not 'fast'"),
        ([16, {**GOOD_P99S, "4": True}], "p99_s[4] must be a number of seconds, not True"),
        ([16, {**GOOD_P99S, "4": math.nan}], "p99_s[4] must be a number of seconds, not nan"),
        ([True, GOOD_P99S], "must be one of [1, 4, 16, 64, 256], not True"),
        (["16.0", GOOD_P99S], "must be one of [1, 4, 16, 64, 256], not 16.0"),
        ([16, GOOD_P99S, 0], "it returned [16, {"),
    ],
)
def test_a_malformed_answer_says_what_was_expected(
    grader: ModuleType, reply: Any, says: str
) -> None:
    service = grader.Service(7, torch.device("cpu"), dict.fromkeys(grader.BATCH_SIZES, 1))
    with pytest.raises(SubmissionError) as raised:
        grader._ask(_Replies(reply), service, 0.01)
    assert says in str(raised.value)
    assert grader._ask(_Replies([16, GOOD_P99S]), service, 0.01) == (
        16,
        {int(size): p99 for size, p99 in GOOD_P99S.items()},
    )


def _assert_names_only_chosen_sizes(result: LabResult) -> None:
    """The p99 report check names the sizes whose reported p99s disagree with the user's own
    calls; every other check names only the sizes the user chose."""
    assert "answer" not in result.details, "the answer is revealed only after a pass"
    chosen = {str(size) for size in result.details.get("chosen", [])}
    for check in result.checks:
        if check.name.endswith("your p99s measured"):
            continue
        named = set(re.findall(r"batch (\d+)", check.message))
        assert named <= chosen, f"{check.name} names another batch size: {check.message}"


@pytest.mark.slow
def test_reference_passes() -> None:
    result = graded_reference(PRACTICAL)
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


def test_an_answer_in_the_old_form_says_what_to_return(grader: ModuleType) -> None:
    """The bare batch size, as the practical once asked: the contestant's endpoint passes it on
    as text, and the referee says what to return."""
    old_form = ModuleType("solution")
    exec(OLD_FORM, old_form.__dict__)  # noqa: S102 - the test's own submission
    choose = support_module(PRACTICAL, "sla_service").serve(old_form, None)["choose"]
    reply = choose(0.01)
    assert reply == {"returned": "4"}
    service = grader.Service(7, torch.device("cpu"), dict.fromkeys(grader.BATCH_SIZES, 1))
    with pytest.raises(SubmissionError, match=re.escape("must return (batch_size, p99_s)")):
        grader._ask(_Replies(reply), service, 0.01)


@pytest.mark.slow
def test_run_batch_called_from_threads_with_numpy_integers_still_passes(tmp_path: Path) -> None:
    """Red-teamed: three threads calling run_batch together interleaved their frames on the
    channel, and the grade failed with 'the referee did not answer: frame header of 576987771
    bytes is over the limit' (the contestant's questions now take turns); numpy integers as
    batch sizes failed with 'int64 cannot cross the channel'."""
    reference = FILES["reference"].read_text(encoding="utf-8")
    measuring = reference.replace("def choose_batch_size(", "def measure_and_choose(")
    (tmp_path / "solution.py").write_text(measuring + THREADS_FIRST, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert result.error is None and result.passed, failed_checks(result)
