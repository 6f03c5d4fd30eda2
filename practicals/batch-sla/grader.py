"""Grades batch-sla from the referee: the service (and its slow path) runs here, serving every
``run_batch`` a contestant makes. The referee sweeps it from a contestant running trusted code,
sets two p99 SLAs relative to this device's batch-1 p99 (each admitting a different best batch
size), and asks your ``choose_batch_size`` about each one in a fresh sandboxed contestant that
calls a fresh service. Your answers are judged against the referee's sweep, which never leaves
this process, and against its record of your calls (a batch size whose slow path you never
called was not measured); a failure explains what is wrong with your batch size, not which one
is right.

The batch sizes are a factor of four apart and each SLA sits well between two of them, so a
machine that is busier (or quieter) while the submission measures than while the grader did
does not change which batch sizes meet it. Two SLAs with different answers, each asked of a
process that has seen no other, mean that no constant answer can pass."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from typing import Any

import torch
from baseline import Point
from sla_service import BATCH_SIZES, SLOW_PATH_RETRIES, Service

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.referee import Refused

# Adjacent batch sizes whose p99s are closer than this cannot be told apart reliably on a
# noisy machine, so an SLA is placed between them only when no clearer step is left.
MIN_P99_STEP = 2.0
SLA_BELOW_MISS = 1.5
# Every SLA admits at least this batch size, so that batching pays: batch 1 (the latency-only
# answer) then falls well short of the best throughput.
MIN_BEST_BATCH = 4
SLA_COUNT = 2
CHOOSE_TIMEOUT_S = 45.0
SLA_NAMES = "AB"


def grade(ctx: GradeContext) -> list[Check]:
    rng = random.Random(ctx.seed)
    ctx.log(f"sweeping batch sizes {list(BATCH_SIZES)} on the CPU in the grader's own process")
    retries = rng.choice(SLOW_PATH_RETRIES)
    points = _measure(ctx, Service(rng.getrandbits(31), torch.device("cpu"), retries))
    factor = rng.uniform(ctx.thresholds["sla_factor_min"], ctx.thresholds["sla_factor_max"])
    batch_one = points[BATCH_SIZES[0]].p99_s
    slas = place_slas(points, factor * batch_one, SLA_COUNT)
    rng.shuffle(slas)
    ctx.details["sla_ms"] = [round(sla * 1e3, 3) for sla in slas]

    checks: list[Check] = []
    chosen_sizes: list[int] = []
    bests: list[Point] = []
    for name, sla in zip(SLA_NAMES, slas, strict=False):
        ctx.log(f"SLA {name}: p99 <= {sla * 1e3:.2f} ms; asking your choose_batch_size")
        service = Service(rng.getrandbits(31), torch.device("cpu"), retries)
        chosen = _ask(ctx, service, sla)
        best = max((p for p in points.values() if p.p99_s <= sla), key=lambda p: p.throughput)
        chosen_sizes.append(chosen)
        bests.append(best)
        checks += [
            _tail_check(f"SLA {name}: p99 measured", service, chosen),
            _sla_check(f"SLA {name}: p99 meets the SLA", points[chosen], sla),
            _throughput_check(ctx, f"SLA {name}: throughput vs best", points[chosen], best),
        ]
    ctx.details["chosen"] = chosen_sizes
    ctx.details["chosen_points"] = [_row(points[size]) for size in chosen_sizes]
    if all(check.passed for check in checks):
        top = max(bests, key=lambda p: p.batch_size)
        ctx.details["headline"] = {
            "name": f"throughput gain of batch {top.batch_size} over batch 1 under an SLA",
            "value": round(top.throughput / points[BATCH_SIZES[0]].throughput, 2),
            "unit": "x",
        }
    ctx.reveal(_answer(points, slas, bests))
    return checks


def place_slas(points: dict[int, Point], target_s: float, count: int) -> list[float]:
    """Up to ``count`` SLAs, each with a different best batch size. Each sits between the p99s
    of two adjacent batch sizes (the smaller at least ``MIN_BEST_BATCH``): at their geometric
    mean, and at most ``SLA_BELOW_MISS`` under the p99 of the size that must miss it (so that
    size's median stays well under the SLA, and checking the median instead of p99 picks the
    wrong size). Steps whose p99s are clearly apart (``MIN_P99_STEP``) come first, nearest
    ``target_s`` first, then the clearest of the rest: measurement noise then cannot flip which
    sizes meet an SLA."""
    ordered = sorted(points.values(), key=lambda p: p.batch_size)
    candidates = []
    for low, high in zip(ordered, ordered[1:], strict=False):
        if low.batch_size < MIN_BEST_BATCH:
            continue
        sla = min(high.p99_s / SLA_BELOW_MISS, math.sqrt(low.p99_s * high.p99_s))
        feasible = [p for p in points.values() if p.p99_s <= sla]
        if not feasible:
            continue
        best = max(feasible, key=lambda p: p.throughput).batch_size
        step = high.p99_s / low.p99_s
        apart = step >= MIN_P99_STEP
        rank = abs(math.log(sla / target_s)) if apart else -step
        candidates.append((not apart, rank, sla, best))
    slas: list[float] = []
    bests: set[int] = set()
    for _, _, sla, best in sorted(candidates):
        if best not in bests and len(slas) < count:
            slas.append(sla)
            bests.add(best)
    return slas


def _measure(ctx: GradeContext, service: Service) -> dict[int, Point]:
    """The grader's sweep, run by trusted code (baseline.py) in a contestant process of the same
    kind as yours, alone on the machine (yours start after it stopped), calling this process's
    ``service`` the way yours does. The service runs on the CPU everywhere: its small model
    would leave a GPU idle at every batch size, and the trade-off would vanish."""
    measurer = ctx.start_contestant("sla_service:measure", solution="baseline.py")
    try:
        rows = measurer.call("sweep", timeout_s=CHOOSE_TIMEOUT_S, on_ask=served_by(service))
    finally:
        measurer.close()
    return {int(row["batch_size"]): Point(**row) for row in rows}


def _ask(ctx: GradeContext, service: Service, sla: float) -> int:
    """Your answer for one SLA, from a fresh contestant that has seen no other SLA, calling a
    fresh ``service`` with the measured one's slow path (and weights of its own)."""
    contestant = ctx.start_contestant("sla_service:serve")
    try:
        chosen = contestant.call(
            "choose", sla, timeout_s=CHOOSE_TIMEOUT_S, on_ask=served_by(service)
        )
    finally:
        contestant.close()
    if isinstance(chosen, bool) or not isinstance(chosen, int) or chosen not in BATCH_SIZES:
        raise SubmissionError(
            f"choose_batch_size must return one of {list(BATCH_SIZES)}, not {chosen!r}"
        )
    return chosen


def served_by(service: Service) -> Callable[[Any], None]:
    """The referee's side of a contestant's ``run_batch``: serve the batch it asked for."""

    def answer(question: Any) -> None:
        size = question.get("run_batch") if isinstance(question, dict) else None
        if isinstance(size, bool) or size not in BATCH_SIZES:
            raise Refused(f"run_batch takes one of {list(BATCH_SIZES)}, not {size!r}")
        service.run_batch(size)

    return answer


def _tail_check(name: str, service: Service, chosen: int) -> Check:
    """The p99 of a batch size is set by its slow calls: an answer whose batch size never took
    the slow path in your calls rests on a guess about the tail, not on a measurement."""
    slow, calls = service.slow_calls[chosen], service.calls[chosen]
    passed = slow > 0
    message = f"batch {chosen}: {slow} of your {calls} calls took the slow path"
    if not passed:
        message += " (one call in ten does): its p99 was never measured, only guessed"
    return Check(name, passed, slow, "≥ 1", "slow", message)


def _sla_check(name: str, point: Point, sla: float) -> Check:
    passed = point.p99_s <= sla
    verdict = "meets" if passed else "breaks"
    message = (
        f"batch {point.batch_size}: p99 {point.p99_s * 1e3:.2f} ms in the grader's sweep "
        f"{verdict} the {sla * 1e3:.2f} ms SLA"
    )
    if not passed:
        message += f" (its median is {point.p50_s * 1e3:.2f} ms: the slow calls set the p99)"
    return Check(name, passed, round(point.p99_s * 1e3, 3), round(sla * 1e3, 3), "ms", message)


def _throughput_check(ctx: GradeContext, name: str, point: Point, best: Point) -> Check:
    fraction = point.throughput / best.throughput
    needed = ctx.thresholds["throughput_fraction_of_best"]
    passed = fraction >= needed
    message = (
        f"batch {point.batch_size}: {point.throughput:.0f} req/s, {100 * fraction:.0f}% of the "
        "best throughput a batch size meeting this SLA reaches in the grader's sweep"
    )
    if not passed:
        message += "; another batch size meets the SLA with clearly more throughput"
    return Check(name, passed, round(100 * fraction, 1), round(100 * needed), "%", message)


def _row(point: Point) -> dict[str, float]:
    return {
        "batch_size": point.batch_size,
        "p50_ms": round(point.p50_s * 1e3, 3),
        "p99_ms": round(point.p99_s * 1e3, 3),
        "throughput_rps": round(point.throughput, 1),
    }


def _answer(points: dict[int, Point], slas: list[float], bests: list[Point]) -> str:
    """The grader's sweep and the right answers (shown only after a pass)."""
    rows = "; ".join(
        f"batch {p.batch_size}: p99 {p.p99_s * 1e3:.2f} ms, {p.throughput:.0f} req/s"
        for p in points.values()
    )
    answers = ", ".join(
        f"SLA {name} ({sla * 1e3:.2f} ms) -> batch {best.batch_size}"
        for name, sla, best in zip(SLA_NAMES, slas, bests, strict=False)
    )
    return f"grader's sweep: {rows}. Best batch sizes: {answers}"
