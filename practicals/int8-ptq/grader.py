"""Grades int8-ptq from the referee: your ``quantize`` runs in a sandboxed contestant process
that serves ``int8_model``'s endpoints; the fp32 baseline runs in another. Weight memory is read
from /proc (what the process really holds, globals and closures included), accuracy is checked
against the fp32 model built here, and throughput is timed from here, interleaved, over streams
of batches that this process hands out one at a time (``BatchStream``)."""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

import torch
from int8_model import EVAL_SHAPE, STREAM_BATCHES, TIMING_SHAPE, build_model, token_batch
from torch import Tensor

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import speedup_check
from quiz.lab.referee import Contestant, ProcessMemory, Refused
from quiz.lab.tinylm import tensor_bytes

# Per timed trial (128 predictions) a far looser bar than the held-out check: it only has to
# catch garbage, stale or cached outputs.
TRIAL_MIN_AGREEMENT = 0.90
_EVAL_SALT = 0x1A7
_PROBE_ROWS = 128  # the rows of a timed [2, 64] batch
_HOPELESS = 4.0  # an int8 GEMM this many times slower than fp32 on one layer is not timed on all


def grade(ctx: GradeContext) -> list[Check]:
    if ctx.device.type != "cpu":
        ctx.log("this practical measures CPU inference; timing stays on the CPU")
    fp32 = build_model()
    host = _host_int8_gemm(ctx, fp32)
    ctx.log("starting your quantized model and the fp32 baseline in separate processes")
    candidate = ctx.start_contestant("int8_model:serve")
    baseline = ctx.start_contestant("int8_model:serve", solution="baseline.py")
    checks = _accuracy_checks(ctx, fp32, candidate, baseline)
    before = candidate.memory(), baseline.memory()
    for contestant in (candidate, baseline):
        contestant.reset_peak()  # each one's resident high-water mark, over the timing
    throughput = _throughput_check(ctx, candidate, baseline, host)
    after = candidate.memory(), baseline.memory()  # peak_rss: the high-water mark since reset
    return [*_bytes_checks(ctx, tensor_bytes(fp32), before, after), *checks, throughput]


def _bytes_checks(
    ctx: GradeContext,
    fp32_bytes: int,
    before: tuple[ProcessMemory, ProcessMemory],
    after: tuple[ProcessMemory, ProcessMemory],
) -> list[Check]:
    """Both processes run the same code but for the model, and both have run the same forward
    passes: the difference in what they privately hold, read before and after the timing, is
    the difference in weights; what the candidate's resident memory rose to while timed, beyond
    the baseline's rise, is what it held only while timed (a wider copy of its weights made
    for each call)."""

    def held(reading: tuple[ProcessMemory, ProcessMemory]) -> float:
        return fp32_bytes + reading[0].uss - reading[1].uss

    at_rest = max(held(before), held(after))
    rises = [late.peak_rss - early.rss for late, early in zip(after, before, strict=True)]
    while_timed = held(before) + rises[0] - rises[1]
    ctx.details["memory"] = {
        side: {"before": b.to_dict(), "after": a.to_dict()}
        for side, b, a in zip(("candidate", "baseline"), before, after, strict=True)
    }
    limit, timed_limit = (
        ctx.thresholds["max_weight_bytes_ratio"],
        ctx.thresholds["max_timed_weight_bytes_ratio"],
    )
    ratio, timed_ratio = max(0.0, at_rest / fp32_bytes), max(0.0, while_timed / fp32_bytes)
    mib = 2**20
    return [
        Check(
            "weight bytes",
            ratio <= limit,
            round(ratio, 4),
            limit,
            "x fp32",
            f"your process holds about {at_rest / mib:.1f} MiB of weights against the fp32 "
            f"model's {fp32_bytes / mib:.1f} MiB (its private memory beyond the fp32 baseline "
            "process's, read from /proc before and after the timing)",
        ),
        Check(
            "weight bytes while timed",
            timed_ratio <= timed_limit,
            round(timed_ratio, 4),
            timed_limit,
            "x fp32",
            f"at its peak while timed your process held about {while_timed / mib:.1f} MiB "
            f"(its weights plus what its resident memory rose by beyond the baseline's rise): "
            + (
                "no wider copy of the weights is made for a call"
                if timed_ratio <= timed_limit
                else "a bf16 or fp32 copy of the weights, made for each call, is counted"
            ),
        ),
    ]


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


class BatchStream:
    """One timed call's stream: the first batch goes with the call, each next one only in
    exchange for the last one's logits, which it keeps (so no two batches are ever in the
    contestant at once, and each batch's logits left it before the next arrived)."""

    def __init__(self, batches: Tensor) -> None:
        self._rest = list(batches[1:])
        self.logits: list[object] = []

    def answer(self, question: object) -> Tensor | None:
        if not isinstance(question, dict) or set(question) != {"logits"}:
            raise Refused("the batch stream takes {'logits': tensor} for each batch")
        if len(self.logits) == STREAM_BATCHES:
            raise Refused("the batch stream has ended")
        self.logits.append(question["logits"])
        return self._rest.pop(0) if self._rest else None


def _throughput_check(
    ctx: GradeContext, candidate: Contestant, baseline: Contestant, host: HostInt8Gemm
) -> Check:
    threshold = ctx.thresholds["min_speedup"]
    ctx.log(
        f"timing fp32 vs your model, interleaved, on fresh streams of {STREAM_BATCHES} "
        f"{TIMING_SHAPE} batches"
    )
    streams: tuple[list[BatchStream], list[BatchStream]] = ([], [])

    def stream_for(side: int) -> Callable[[Tensor], Callable[[object], Tensor | None]]:
        def answerer(batches: Tensor) -> Callable[[object], Tensor | None]:
            streams[side].append(BatchStream(batches))
            return streams[side][-1].answer

        return answerer

    def check(batches: Tensor, _base_count: object, count: object) -> None:
        expected, actual = streams[0][-1].logits, streams[1][-1].logits
        if count != STREAM_BATCHES or len(actual) != STREAM_BATCHES:
            raise AssertionError(f"ran {count!r} of the stream's {STREAM_BATCHES} batches")
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            assert isinstance(want, Tensor)
            agreement = _agreement(_as_logits(got, want), want)
            if agreement < TRIAL_MIN_AGREEMENT:
                raise AssertionError(f"top-1 agreement {agreement:.3f} on batch {index + 1}")

    try:
        comparison = ctx.compare(
            baseline,
            candidate,
            "forward_stream",
            lambda seed: torch.stack(
                [token_batch(seed + i, TIMING_SHAPE) for i in range(STREAM_BATCHES)]
            ),
            check=check,
            label=f"quantized forward, {STREAM_BATCHES} batches a call",
            threshold=threshold,
            # The reference measures 2.1-2.8x here as the host's load drifts: a CI over 15
            # trials (8 s) often straddled 2x where ~25 decided it.
            max_time_s=12.0,
            min_trials=8,
            answerers=(stream_for(0), stream_for(1)),
            send=lambda batches: batches[0],
            echo_endpoint="echo_stream",
        )
    except SubmissionError as err:
        return Check("throughput vs fp32", False, None, threshold, "x", str(err))
    ctx.details["throughput"] = comparison.to_dict()
    verdict = speedup_check("throughput vs fp32", comparison, threshold)
    return _unless_host_cannot(ctx, verdict, host, comparison.ci_high)


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


@dataclass(frozen=True)
class HostInt8Gemm:
    """How much faster than fp32 this CPU runs the model's Linear layers in int8, by each of
    the two int8 paths torch has (None: not in this torch build). ``int_mm_one_layer``: int_mm
    was so slow on the first layer that it was timed on that layer alone."""

    int_mm: float | None
    fbgemm: float | None
    int_mm_one_layer: bool = False

    @property
    def best(self) -> float:
        return max(self.int_mm or 0.0, self.fbgemm or 0.0)

    def describe(self) -> str:
        def ratio(value: float | None, one_layer: bool = False) -> str:
            if value is None:
                return "unavailable"
            return f"{value:.2f}x{' (on one layer)' if one_layer else ''}"

        return (
            f"torch._int_mm {ratio(self.int_mm, self.int_mm_one_layer)}, "
            f"fbgemm (quantize_dynamic) {ratio(self.fbgemm)}"
        )


def _host_int8_gemm(ctx: GradeContext, fp32: torch.nn.Module) -> HostInt8Gemm:
    """Some CPUs have no int8 GEMM fast enough for the milestone (on an AVX2-only EPYC
    torch._int_mm ran 50x slower than fp32 and fbgemm under 2x faster): measure both on this
    CPU before grading, so that a miss there is reported as the CPU's, not the submission's."""
    ctx.log("measuring this CPU's int8 GEMMs against fp32 on the model's Linear layers")
    gen = torch.Generator().manual_seed(ctx.seed)
    linears = [m for m in fp32.modules() if isinstance(m, torch.nn.Linear)]
    inputs = [torch.randn(_PROBE_ROWS, m.in_features, generator=gen) for m in linears]
    with torch.inference_mode():
        int_mm, one_layer = _int_mm_ratio(linears, inputs)
        fbgemm = _fbgemm_ratio(linears, inputs)
    host = HostInt8Gemm(int_mm, fbgemm, one_layer)
    ctx.details["host_int8_gemm"] = asdict(host)
    ctx.log(f"int8 against fp32 on this CPU: {host.describe()}")
    return host


def _int_mm_ratio(
    linears: list[torch.nn.Linear], inputs: list[Tensor]
) -> tuple[float | None, bool]:
    weights = [torch.ones(m.in_features, m.out_features, dtype=torch.int8) for m in linears]
    rows = [torch.ones_like(x, dtype=torch.int8) for x in inputs]
    try:
        torch._int_mm(rows[0], weights[0])
    except (AttributeError, RuntimeError):
        return None, False
    one_layer = _ratio(lambda: linears[0](inputs[0]), lambda: torch._int_mm(rows[0], weights[0]), 1)
    if one_layer < 1 / _HOPELESS:  # a fallback loop: all layers would take seconds
        return one_layer, True
    pairs = list(zip(rows, weights, strict=True))
    return _ratio(
        _fp32_pass(linears, inputs), lambda: [torch._int_mm(x, w) for x, w in pairs]
    ), False


def _fbgemm_ratio(linears: list[torch.nn.Linear], inputs: list[Tensor]) -> float | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # quantize_dynamic is deprecated, still present
            quantized = torch.ao.quantization.quantize_dynamic(
                torch.nn.ModuleList(copy.deepcopy(linears)),
                {torch.nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
                dtype=torch.qint8,
            )
        pairs = list(zip(quantized, inputs, strict=True))
        return _ratio(_fp32_pass(linears, inputs), lambda: [m(x) for m, x in pairs])
    except (AttributeError, RuntimeError):
        return None


def _fp32_pass(linears: list[torch.nn.Linear], inputs: list[Tensor]) -> Callable[[], object]:
    return lambda: [m(x) for m, x in zip(linears, inputs, strict=True)]


def _ratio(fp32: Callable[[], object], int8: Callable[[], object], rounds: int = 5) -> float:
    """fp32's time over int8's: the median of ``rounds`` ratios, each of one fp32 run timed
    next to one int8 run (so a noisy moment hits both)."""
    fp32()
    int8()
    ratios = []
    for _ in range(rounds):
        start = time.perf_counter()
        fp32()
        middle = time.perf_counter()
        int8()
        ratios.append((middle - start) / (time.perf_counter() - middle))
    return statistics.median(ratios)


def _unless_host_cannot(
    ctx: GradeContext, check: Check, host: HostInt8Gemm, ci_high: float
) -> Check:
    """A miss on a CPU whose int8 GEMMs cannot reach the milestone is inconclusive, with why;
    unless the model is slower than fp32 (``ci_high``: the upper bound of its speed-up) while
    an int8 path here is faster: then it did not use that path, and the miss stands."""
    needed = ctx.thresholds["host_int8_gemm_min_speedup"]
    if check.passed or host.best >= needed:
        return check
    figures = f"measured here on the model's Linear layers: {host.describe()}"
    if host.best > 1.0 and ci_high < 1.0:
        faster = "torch._int_mm" if (host.int_mm or 0.0) >= (host.fbgemm or 0.0) else "fbgemm"
        message = (
            f"{check.message}. Your model is slower than fp32, while {faster} runs this CPU's "
            f"int8 GEMMs {host.best:.2f}x faster than fp32 ({figures}): measure both and use "
            "the faster one here (Hint 1)"
        )
        return replace(check, message=message)
    message = (
        f"not gradable on this CPU: {check.message}. This CPU's int8 GEMMs are too slow for 2x "
        f"end to end ({figures}; 2x needs about {needed:g}x). Grade on a CPU with a fast int8 "
        "GEMM (AVX-512 VNNI or AMX)"
    )
    return replace(check, message=message, inconclusive=True)
