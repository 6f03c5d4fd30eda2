"""Grades int8-ptq from the referee: your ``quantize`` runs in a sandboxed contestant process
that serves ``forward(tokens)``; the fp32 baseline runs in another. Weight memory is read from
/proc (what the process really holds, globals and closures included), accuracy is checked
against the fp32 model built here, and throughput is timed from here, interleaved."""

from __future__ import annotations

import torch
from int8_model import EVAL_SHAPE, TIMING_SHAPE, build_model, token_batch
from torch import Tensor

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import speedup_check
from quiz.lab.referee import Contestant
from quiz.lab.tinylm import tensor_bytes

# Per timed trial (128 predictions) a far looser bar than the held-out check: it only has to
# catch garbage, stale or cached outputs.
TRIAL_MIN_AGREEMENT = 0.90
_EVAL_SALT = 0x1A7


def grade(ctx: GradeContext) -> list[Check]:
    if ctx.device.type != "cpu":
        ctx.log("this practical measures CPU inference; timing stays on the CPU")
    ctx.log("starting your quantized model and the fp32 baseline in separate processes")
    candidate = ctx.start_contestant("int8_model:serve")
    baseline = ctx.start_contestant("int8_model:serve", solution="baseline.py")
    fp32 = build_model()
    checks = _accuracy_checks(ctx, fp32, candidate, baseline)
    checks.insert(0, _bytes_check(ctx, fp32, candidate, baseline))
    checks.append(_throughput_check(ctx, candidate, baseline))
    return checks


def _bytes_check(
    ctx: GradeContext, fp32: torch.nn.Module, candidate: Contestant, baseline: Contestant
) -> Check:
    """Both processes run the same code but for the model, and both have run the same forward
    passes: the difference in what they privately hold is the difference in weights."""
    limit = ctx.thresholds["max_weight_bytes_ratio"]
    fp32_bytes = tensor_bytes(fp32)
    cand, base = candidate.memory(), baseline.memory()
    held = fp32_bytes + cand.uss - base.uss
    ratio = max(0.0, held / fp32_bytes)
    ctx.details["memory"] = {"candidate": cand.to_dict(), "baseline": base.to_dict()}
    message = (
        f"your process holds about {held / 2**20:.1f} MiB of weights against the fp32 model's "
        f"{fp32_bytes / 2**20:.1f} MiB (its private memory beyond the fp32 baseline process's, "
        "read from /proc)"
    )
    return Check("weight bytes", ratio <= limit, round(ratio, 4), limit, "x fp32", message)


def _accuracy_checks(
    ctx: GradeContext, fp32: torch.nn.Module, candidate: Contestant, baseline: Contestant
) -> list[Check]:
    ctx.log(f"comparing next-token predictions on a held-out batch {EVAL_SHAPE}")
    tokens = token_batch(ctx.seed ^ _EVAL_SALT, EVAL_SHAPE)
    with torch.inference_mode():
        expected = fp32(tokens)
    actual = _logits(candidate.call("forward", tokens), expected)
    baseline.call("forward", tokens)  # the same activations in both processes before /proc
    agreement = _agreement(actual, expected)
    rel_error = ((actual - expected).norm() / expected.norm()).item()
    min_agree = ctx.thresholds["min_top1_agreement"]
    max_error = ctx.thresholds["max_logits_rel_error"]
    n = expected.shape[0] * expected.shape[1]
    return [
        Check(
            "top-1 agreement",
            agreement >= min_agree,
            round(agreement, 4),
            min_agree,
            message=f"same argmax as fp32 on {round(agreement * n)} of {n} held-out positions",
        ),
        Check(
            "logits relative error",
            rel_error <= max_error,
            round(rel_error, 4),
            max_error,
            message="||logits_int8 - logits_fp32|| / ||logits_fp32|| on the held-out batch",
        ),
    ]


def _throughput_check(ctx: GradeContext, candidate: Contestant, baseline: Contestant) -> Check:
    threshold = ctx.thresholds["min_speedup"]
    ctx.log(f"timing fp32 vs your model, interleaved, on fresh {TIMING_SHAPE} batches")

    def check(tokens: Tensor, expected: Tensor, actual: Tensor) -> None:
        agreement = _agreement(_as_logits(actual, expected), expected)
        if agreement < TRIAL_MIN_AGREEMENT:
            raise AssertionError(f"top-1 agreement {agreement:.3f} on this batch")

    try:
        comparison = ctx.compare(
            baseline,
            candidate,
            "forward",
            lambda seed: token_batch(seed, TIMING_SHAPE),
            check=check,
            label="quantized forward",
            threshold=threshold,
            max_time_s=8.0,
            min_trials=8,
        )
    except SubmissionError as err:
        return Check("throughput vs fp32", False, None, threshold, "x", str(err))
    ctx.details["throughput"] = comparison.to_dict()
    return speedup_check("throughput vs fp32", comparison, threshold)


def _logits(out: object, expected: Tensor) -> Tensor:
    try:
        return _as_logits(out, expected)
    except AssertionError as err:
        raise SubmissionError(f"the quantized model's output: {err}") from None


def _as_logits(out: object, expected: Tensor) -> Tensor:
    """``out`` as fp32 logits shaped like ``expected``, or AssertionError saying why not."""
    if not isinstance(out, Tensor) or not out.is_floating_point():
        raise AssertionError(f"expected a float tensor of logits, got {type(out).__name__}")
    if out.shape != expected.shape:
        raise AssertionError(f"shape {tuple(out.shape)} != {tuple(expected.shape)}")
    out = out.float()
    if not torch.isfinite(out).all():
        raise AssertionError("NaN or inf in the logits")
    return out


def _agreement(actual: Tensor, expected: Tensor) -> float:
    return (actual.argmax(-1) == expected.argmax(-1)).float().mean().item()
