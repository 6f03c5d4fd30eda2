"""Grades int8-ptq: quantizes a copy of the model with the submission's ``quantize``, then checks
weight bytes, accuracy on held-out batches, and throughput against fp32 in the same run."""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from int8_model import EVAL_SHAPE, TIMING_SHAPE, build_model, token_batch
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import Harness, speedup_check
from quiz.lab.tinylm import TinyLM, tensor_bytes

Model = Callable[[Tensor], Tensor]
# Per timed trial (128 predictions) a far looser bar than the held-out check: it only has to
# catch garbage, stale or cached outputs.
TRIAL_MIN_AGREEMENT = 0.90
_EVAL_SALT = 0x1A7


def grade(ctx: GradeContext) -> list[Check]:
    solution = ctx.load_submission()
    quantize = ctx.require(solution, "quantize")
    ctx.log("building the fp32 model")
    fp32 = build_model()
    ctx.log("quantizing a copy of it with your quantize()")
    with torch.no_grad():
        quantized = quantize(copy.deepcopy(fp32))
    if not callable(quantized):
        raise SubmissionError("quantize(model) must return the quantized model (a callable)")
    checks = [_bytes_check(ctx, fp32, quantized)]
    checks += _accuracy_checks(ctx, fp32, quantized)
    checks.append(_throughput_check(ctx, fp32, quantized))
    ctx.details["int8_ops_seen"] = _int8_ops(quantized)
    return checks


def _bytes_check(ctx: GradeContext, fp32: TinyLM, quantized: Model) -> Check:
    limit = ctx.thresholds["max_weight_bytes_ratio"]
    base, quant = tensor_bytes(fp32), tensor_bytes(quantized)
    ratio = quant / base
    ctx.details["weight_bytes"] = {"fp32": base, "quantized": quant}
    message = (
        f"{quant / 2**20:.1f} MiB of tensors reachable from the quantized model vs "
        f"{base / 2**20:.1f} MiB in fp32"
    )
    return Check("weight bytes", ratio <= limit, round(ratio, 4), limit, "x fp32", message)


def _accuracy_checks(ctx: GradeContext, fp32: TinyLM, quantized: Model) -> list[Check]:
    ctx.log(f"comparing next-token predictions on a held-out batch {EVAL_SHAPE}")
    tokens = token_batch(ctx.seed ^ _EVAL_SALT, EVAL_SHAPE)
    with torch.inference_mode():
        expected = fp32(tokens)
        actual = _logits(quantized, tokens, expected)
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


def _throughput_check(ctx: GradeContext, fp32: TinyLM, quantized: Model) -> Check:
    threshold = ctx.thresholds["min_speedup"]
    ctx.log(f"timing fp32 vs your model, interleaved, on fresh {TIMING_SHAPE} batches")

    @torch.inference_mode()
    def run_fp32(tokens: Tensor) -> Tensor:
        return fp32(tokens)

    @torch.inference_mode()
    def run_quantized(tokens: Tensor) -> Tensor:
        return quantized(tokens)

    def check(tokens: Tensor, expected: Tensor, actual: Tensor) -> None:
        agreement = _agreement(_logits_of(actual, expected), expected)
        if agreement < TRIAL_MIN_AGREEMENT:
            raise AssertionError(f"top-1 agreement {agreement:.3f} on this batch")

    try:
        comparison = _cpu_harness(ctx).compare(
            run_fp32,
            run_quantized,
            lambda seed: token_batch(seed, TIMING_SHAPE),
            check=check,
            label="quantized forward",
            max_time_s=6.0,
            min_trials=8,
        )
    except SubmissionError as err:
        return Check("throughput vs fp32", False, None, threshold, "x", str(err))
    ctx.details["throughput"] = comparison.to_dict()
    return speedup_check("throughput vs fp32", comparison, threshold)


def _logits(model: Model, tokens: Tensor, expected: Tensor) -> Tensor:
    try:
        return _logits_of(model(tokens), expected)
    except AssertionError as err:
        raise SubmissionError(f"the quantized model's output: {err}") from None


def _logits_of(out: object, expected: Tensor) -> Tensor:
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


def _int8_ops(model: Model) -> list[str]:
    """Names of the int8 kernels one forward pass runs (for the report, not a check)."""
    markers = ("int_mm", "int8", "quantized::", "qlinear", "linear_dynamic")
    with torch.inference_mode(), profile(activities=[ProfilerActivity.CPU]) as prof:
        model(token_batch(0, (1, 8)))
    return sorted({e.key for e in prof.key_averages() if any(m in e.key for m in markers)})


def _cpu_harness(ctx: GradeContext) -> Harness:
    """The practical measures CPU inference: on a CUDA machine it still times on the CPU."""
    if ctx.device.type == "cpu":
        return ctx.harness
    return Harness(torch.device("cpu"), seed=ctx.seed)
