"""Grades prefix-cache: replays request traces through the submission's PrefixCachingEngine and
checks its outputs against prefill without caching, its bytes against the budget after every
request, its time-to-first-token against no caching (interleaved), and its reported hit rate."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from prefix_model import (
    EVICTION_BUDGET_BYTES,
    SHARED_BUDGET_BYTES,
    build_model,
    eviction_trace,
    forward_with_past,
    ideal_hit_rate,
    shared_prefix_trace,
)
from torch import Tensor

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import Harness, speedup_check
from quiz.lab.tinylm import TinyLM, tensor_bytes

EngineClass = Callable[[TinyLM, int], Any]
# Cached and uncached prefill round differently (~1e-5 here); logits must agree to this, so
# the greedy tokens are the same up to exact ties.
LOGITS_TOLERANCE = 1e-3
_EVICTION_SALT = 0xE71C


def grade(ctx: GradeContext) -> list[Check]:
    solution = ctx.load_submission()
    engine_class = ctx.require(solution, "PrefixCachingEngine")
    model = build_model()

    ctx.log("replaying an eviction-heavy trace, checking outputs and bytes after every request")
    trace = eviction_trace(ctx.seed ^ _EVICTION_SALT)
    engine = engine_class(model, EVICTION_BUDGET_BYTES)
    mismatch, peak, over = _replay(model, engine, trace, EVICTION_BUDGET_BYTES)

    ctx.log("replaying a shared-prefix trace for the hit rate")
    shared = shared_prefix_trace(ctx.seed)
    engine = engine_class(model, SHARED_BUDGET_BYTES)
    shared_mismatch, _, shared_over = _replay(model, engine, shared, SHARED_BUDGET_BYTES)
    mismatch = mismatch or shared_mismatch
    n = len(trace) + len(shared)
    identical = Check(
        "outputs identical to no caching",
        mismatch is None,
        message=mismatch
        or f"logits within {LOGITS_TOLERANCE} of prefill without caching on {n} requests",
    )
    return [
        identical,
        _budget_check(peak, over, len(trace), shared_over),
        _hit_rate_check(ctx, engine, shared),
        _ttft_check(ctx, model, engine_class),
    ]


def _replay(
    model: TinyLM, engine: Any, trace: list[Tensor], budget: int
) -> tuple[str | None, int, int | None]:
    """(first output mismatch or None, peak bytes held, first request after which the engine
    held more than ``budget`` or None)."""
    mismatch, peak, over = None, 0, None
    for i, prompt in enumerate(trace):
        with torch.inference_mode():
            actual = engine.prefill(prompt.clone())
        expected = forward_with_past(model, prompt)[0]
        if mismatch is None:
            problem = _compare(actual, expected)
            mismatch = None if problem is None else f"request {i + 1}: {problem}"
        held = tensor_bytes(engine, exclude=model)
        peak = max(peak, held)
        if over is None and held > budget:
            over = i + 1
    return mismatch, peak, over


def _budget_check(peak: int, over: int | None, requests: int, shared_over: int | None) -> Check:
    """On the eviction trace (measured: its peak), and on the shared-prefix trace's own budget."""
    if over is not None:
        message = f"over budget after request {over}: peak {peak / 2**10:.0f} KiB"
    elif shared_over is not None:
        message = (
            f"over the {SHARED_BUDGET_BYTES} B budget after shared-prefix request {shared_over}"
        )
    else:
        message = f"checked after each of {requests} requests; peak {peak / 2**10:.0f} KiB"
    passed = over is None and shared_over is None
    return Check("budget never exceeded", passed, peak, EVICTION_BUDGET_BYTES, "B", message)


def _hit_rate_check(ctx: GradeContext, engine: Any, trace: list[Tensor]) -> Check:
    threshold = ctx.thresholds["min_hit_rate"]
    ideal = ideal_hit_rate(trace)
    hit_rate = getattr(engine, "hit_rate", None)
    reported = hit_rate() if callable(hit_rate) else None
    ctx.details["hit_rate"] = {"reported": reported, "ideal": round(ideal, 4)}
    if not isinstance(reported, (int, float)):
        return Check("hit rate reported", False, None, threshold, message="no hit_rate() number")
    plausible = 0.0 <= reported <= ideal + 1e-6
    passed = plausible and reported >= threshold
    message = f"the trace allows at most {ideal:.3f} (every shared prefix reused)"
    if not plausible:
        message = f"implausible: {message}"
    return Check("hit rate reported", passed, round(float(reported), 4), threshold, "", message)


def _ttft_check(ctx: GradeContext, model: TinyLM, engine_class: EngineClass) -> Check:
    threshold = ctx.thresholds["min_ttft_speedup"]
    ctx.log("timing prefill without caching vs your engine on fresh shared-prefix traces")

    def no_cache(trace: list[Tensor]) -> list[Tensor]:
        return [forward_with_past(model, prompt)[0] for prompt in trace]

    @torch.inference_mode()
    def cached(trace: list[Tensor]) -> tuple[list[Any], Any]:
        engine = engine_class(model, SHARED_BUDGET_BYTES)
        return [engine.prefill(prompt) for prompt in trace], engine

    def check(trace: list[Tensor], expected: list[Tensor], result: tuple[list[Any], Any]) -> None:
        outputs, engine = result
        for i, (actual, want) in enumerate(zip(outputs, expected, strict=True)):
            problem = _compare(actual, want)
            if problem is not None:
                raise AssertionError(f"request {i + 1}: {problem}")
        held = tensor_bytes(engine, exclude=model)
        if held > SHARED_BUDGET_BYTES:
            raise AssertionError(f"holds {held} B, over the {SHARED_BUDGET_BYTES} B budget")

    try:
        comparison = _cpu_harness(ctx).compare(
            no_cache,
            cached,
            shared_prefix_trace,
            check=check,
            label="prefix-cached prefill",
            max_time_s=5.0,
            min_trials=5,
        )
    except SubmissionError as err:
        return Check("time to first token vs no caching", False, None, threshold, "x", str(err))
    ctx.details["ttft"] = comparison.to_dict()
    return speedup_check("time to first token vs no caching", comparison, threshold)


def _compare(actual: Any, expected: Tensor) -> str | None:
    """Why ``actual`` is not the no-cache logits ``expected`` ``[vocab]``, or None."""
    if not isinstance(actual, Tensor) or actual.shape != expected.shape:
        shape = tuple(actual.shape) if isinstance(actual, Tensor) else type(actual).__name__
        return f"prefill must return logits of shape {tuple(expected.shape)}, got {shape}"
    actual = actual.float()
    if not torch.isfinite(actual).all():
        return "NaN or inf in the logits"
    error = (actual - expected).abs().max().item()
    if error > LOGITS_TOLERANCE:
        return f"logits differ from prefill without caching by up to {error:.3g}"
    return None


def _cpu_harness(ctx: GradeContext) -> Harness:
    """The practical measures CPU inference: on a CUDA machine it still times on the CPU."""
    if ctx.device.type == "cpu":
        return ctx.harness
    return Harness(torch.device("cpu"), seed=ctx.seed)
