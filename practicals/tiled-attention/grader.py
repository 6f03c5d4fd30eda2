"""Grades tiled-attention (referee side): the submission's attention must match
scaled_dot_product_attention on fresh inputs (causal and not, with and without a softcap), keep
its peak memory at N = 16384 far below the N x N scores, and beat the naive version's speed.

Only trusted code runs here; the submission runs in a contestant process and is reached through
``Contestant.call``. Inputs come from the grade's secret seed; the truth is computed here in
float64; memory and CPU time are read from /proc by the lab, never reported by the submission.
"""

from __future__ import annotations

import random
from time import perf_counter
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import speedup_check
from quiz.lab.referee import Contestant, counted_from

DRIVER = "attention_task:serve"
MEMORY_N = 16384
SPEED_N = 6144  # large enough that the channel stays under 2 % of a naive call
HEAD_DIM = 64
SOFTCAP = 30.0
CHECKED_ROWS = 64  # rows of a long output compared with float64 (chosen after it arrives)
# An answer may differ from float64 attention by this many times plain fp32 attention's own
# error on the same inputs (summing in another order rounds differently), or by ERROR_FLOOR.
ERROR_FACTOR = 8.0
ERROR_FLOOR = 2e-5
# After the timed comparison, this many more calls of the same kind count the cores the
# candidate's process tree used (CPU time from /proc over wall time).
CORE_COUNT_CALLS = 4
CORES_SLACK = 0.3
MIB = 2**20
# How much more than the baseline's process the candidate's may hold before the memory call
# (its own module, small buffers kept between calls); beyond it, the excess counts as used in
# the call. The reference held 2.5 MiB more.
BEFORE_ALLOWANCE_MIB = 64
SPEED_CHECK = f"speed-up over naive attention at N={SPEED_N}"
MEMORY_CHECK = f"peak extra memory at N={MEMORY_N}"


class Case(NamedTuple):
    """One accuracy input: shapes, mask, softcap and how spread the scores are."""

    batch: int
    heads: int
    n_q: int
    n_k: int
    head_dim: int
    causal: bool
    softcap: float | None
    scale: float

    def describe(self) -> str:
        mask = "causal" if self.causal else "non-causal"
        cap = f", softcap {self.softcap:g}" if self.softcap is not None else ""
        shape = f"{self.batch}x{self.heads} heads, {self.n_q} queries x {self.n_k} keys"
        return f"{shape}, d {self.head_dim}, {mask}{cap}, score spread x{self.scale:g}"


def grade(ctx: GradeContext) -> list[Check]:
    rng = random.Random(ctx.seed)
    candidate = ctx.start_contestant(DRIVER)
    accuracy = accuracy_check(ctx, candidate, accuracy_cases(rng), rng)
    if not accuracy.passed:
        skipped = "not measured: the output must be right first"
        return [
            accuracy,
            Check(SPEED_CHECK, False, None, ctx.thresholds["min_speedup"], "x", skipped),
            Check(
                MEMORY_CHECK, False, None, ctx.thresholds["max_extra_memory_mib"], "MiB", skipped
            ),
        ]
    baseline = ctx.start_contestant(DRIVER, solution="baseline.py", role="baseline")
    return [
        accuracy,
        _speed_check(ctx, baseline, candidate, rng),
        _memory_check(ctx, candidate, baseline, rng),
    ]


def accuracy_cases(rng: random.Random) -> list[Case]:
    """Fresh shapes per grade: a single token, short and long causal, cross-attention with more
    keys than queries, softcapped scores, and scores spread wide enough to overflow exp()."""
    short, long = rng.randint(2, 40), rng.randint(700, 1500)
    n_q, n_k = rng.randint(100, 700), rng.randint(701, 1500)
    spiky = rng.randint(600, 1200)
    return [
        Case(1, 1, 1, 1, HEAD_DIM, True, None, 1.0),
        Case(2, 3, short, short, HEAD_DIM, True, None, 1.0),
        Case(1, 2, n_q, n_k, 32, False, None, 1.5),
        Case(1, 2, long, long, 128, True, rng.choice([20.0, SOFTCAP, 50.0]), 2.0),
        Case(1, 4, n_q, n_q, HEAD_DIM, False, SOFTCAP, 2.0),
        Case(1, 2, spiky, spiky, HEAD_DIM, False, None, 6.0),
        Case(1, 2, spiky, spiky, HEAD_DIM, True, None, 6.0),
    ]


def make_inputs(case: Case, seed: int) -> dict[str, Any]:
    """What the ``attention`` endpoint takes: q, k, v drawn from ``seed``, causal, softcap."""
    gen = torch.Generator().manual_seed(seed % 2**63)
    scale = case.scale
    q = torch.randn(case.batch, case.heads, case.n_q, case.head_dim, generator=gen) * scale
    k = torch.randn(case.batch, case.heads, case.n_k, case.head_dim, generator=gen) * scale
    v = torch.randn(case.batch, case.heads, case.n_k, case.head_dim, generator=gen)
    return {"q": q, "k": k, "v": v, "causal": case.causal, "softcap": case.softcap}


def accuracy_check(
    ctx: GradeContext, candidate: Contestant, cases: list[Case], rng: random.Random
) -> Check:
    name = "matches scaled_dot_product_attention"
    ctx.log(f"comparing your attention with float64 attention on {len(cases)} fresh inputs")
    for i, case in enumerate(cases):
        inputs = make_inputs(case, rng.getrandbits(63))
        try:
            verify_rows(inputs, candidate.call("attention", inputs), rows=None)
        except (AssertionError, SubmissionError) as err:
            message = f"input {i + 1} ({case.describe()}): {err}"
            return Check(name, False, i, len(cases), "inputs", message)
    message = f"within tolerance of float64 attention on {len(cases)} fresh inputs"
    return Check(name, True, len(cases), len(cases), "inputs", message)


def verify_rows(inputs: dict[str, Any], out: object, rows: Tensor | None) -> None:
    """AssertionError unless ``out`` is attention's output for ``inputs``, judged on query
    ``rows`` (all when None) against float64, allowing ERROR_FACTOR x plain fp32 attention's
    own error there."""
    q, k, v = inputs["q"], inputs["k"], inputs["v"]
    causal, softcap = inputs["causal"], inputs["softcap"]
    if not isinstance(out, Tensor):
        raise AssertionError(f"attention returned {type(out).__name__}, not a tensor")
    if out.shape != q.shape or out.dtype != torch.float32:
        raise AssertionError(
            f"returned {out.dtype} {tuple(out.shape)}; expected torch.float32 {tuple(q.shape)}"
        )
    picked = out if rows is None else out[..., rows, :]
    if not torch.isfinite(picked).all():
        bad = int((~torch.isfinite(picked)).sum())
        raise AssertionError(f"{bad} output values are NaN or infinite")
    truth = exact_rows(q.double(), k.double(), v.double(), causal, softcap, rows)
    fp32_error = float((exact_rows(q, k, v, causal, softcap, rows).double() - truth).abs().max())
    allowed = max(ERROR_FLOOR, ERROR_FACTOR * fp32_error)
    error = float((picked.double() - truth).abs().max())
    if error > allowed:
        raise AssertionError(
            f"max error {error:.2e} against float64 attention; plain fp32 attention's is "
            f"{fp32_error:.2e} here, allowed {allowed:.2e}"
        )


def exact_rows(
    q: Tensor, k: Tensor, v: Tensor, causal: bool, softcap: float | None, rows: Tensor | None
) -> Tensor:
    """Attention of query ``rows`` (all when None) in q's dtype, the score matrix materialised:
    scaled_dot_product_attention where it applies, the same formula with the softcap otherwise."""
    if softcap is None and rows is None:
        return F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    picked = q if rows is None else q[..., rows, :]
    scores = (picked @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if softcap is not None:
        scores = softcap * torch.tanh(scores / softcap)
    if causal:
        positions = torch.arange(q.shape[-2]) if rows is None else rows
        later = torch.arange(k.shape[-2])[None, :] > positions[:, None]
        scores = scores.masked_fill(later, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def _random_rows(rng: random.Random, n: int) -> Tensor:
    return torch.tensor(sorted(rng.sample(range(n), CHECKED_ROWS)))


def _speed_check(
    ctx: GradeContext, baseline: Contestant, candidate: Contestant, rng: random.Random
) -> Check:
    threshold = ctx.thresholds["min_speedup"]
    name = SPEED_CHECK
    case = Case(1, 1, SPEED_N, SPEED_N, HEAD_DIM, True, SOFTCAP, 1.0)
    ctx.log(f"timing naive attention vs yours at N={SPEED_N} (causal, softcap), interleaved")

    def check(inputs: dict[str, Any], _naive: object, out: object) -> None:
        verify_rows(inputs, out, _random_rows(rng, SPEED_N))

    try:
        comparison = ctx.compare(
            baseline,
            candidate,
            "attention",
            lambda seed: make_inputs(case, seed),
            check=check,
            label="tiled attention",
            threshold=threshold,
            max_time_s=8.0,
            min_trials=5,
        )
        cores = cores_used(candidate, [make_inputs(case, rng.getrandbits(63))] * CORE_COUNT_CALLS)
    except SubmissionError as err:
        return Check(name, False, None, threshold, "x", str(err))
    ctx.details["speedup"] = comparison.to_dict()
    ctx.details["candidate_cores"] = round(cores, 2)
    ctx.details["headline"] = comparison.headline("speed-up", digits=2)
    threads = ctx.contestant_options.threads
    if cores > threads + CORES_SLACK:
        message = (
            f"your process used {cores:.1f} cores while each side is given {threads} thread(s); "
            "a speed-up bought with extra threads is not comparable (leave the thread count alone)"
        )
        return Check(name, False, round(comparison.speedup, 3), threshold, "x", message)
    return speedup_check(name, comparison, threshold)


def cores_used(contestant: Contestant, inputs: list[dict[str, Any]]) -> float:
    """CPU seconds of the contestant's process tree per wall second over calls on ``inputs``."""
    cpu_before, start = contestant.cpu_seconds(), perf_counter()
    for one in inputs:
        contestant.call("attention", one)
    return (contestant.cpu_seconds() - cpu_before) / (perf_counter() - start)


def _memory_check(
    ctx: GradeContext, candidate: Contestant, baseline: Contestant, rng: random.Random
) -> Check:
    """The candidate's resident peak during one call at ``MEMORY_N`` beyond what it held
    before it; and "before" is never more than what the baseline's process (naive attention,
    the same driver, the speed check's calls behind it too) holds at that point plus
    ``BEFORE_ALLOWANCE_MIB``, so a buffer set aside earlier (at import, or in an earlier call)
    counts as held in the call (red team: a 1 GiB buffer filled at import held the whole N x N
    scores and showed a 20 MiB peak)."""
    limit_mib = ctx.thresholds["max_extra_memory_mib"]
    name = MEMORY_CHECK
    scores_mib = MEMORY_N * MEMORY_N * 4 / MIB
    case = Case(1, 1, MEMORY_N, MEMORY_N, HEAD_DIM, False, SOFTCAP, 1.0)
    inputs = make_inputs(case, rng.getrandbits(63))
    ctx.log(f"measuring your attention's peak memory at N={MEMORY_N} (non-causal, softcap)")
    where = f"at N={MEMORY_N}, where the fp32 scores alone are {scores_mib:.0f} MiB"
    try:
        bare = baseline.memory().rss
        held = candidate.memory().rss
        before = counted_from(held, bare, BEFORE_ALLOWANCE_MIB * MIB)
        candidate.reset_peak()
        out = candidate.call("attention", inputs, timeout_s=60)
        peak = candidate.memory().peak_rss
    except SubmissionError as err:
        ran_out = "allocate" in str(err) or "out of memory" in str(err)
        limit = f" and ran out of the {ctx.practical.memory_limit_mb} MiB your process may use"
        return Check(
            name, False, None, limit_mib, "MiB", f"{where}{limit if ran_out else ''}: {err}"
        )
    extra_mib = (peak - before) / MIB
    ctx.details["memory"] = {
        "rss_before": held,
        "baseline_rss": bare,
        "peak_rss": peak,
        "scores_bytes": MEMORY_N**2 * 4,
    }
    try:
        verify_rows(inputs, out, _random_rows(rng, MEMORY_N))
    except AssertionError as err:
        return Check(name, False, round(extra_mib, 1), limit_mib, "MiB", f"{where}: {err}")
    channel_mib = 4 * inputs["q"].numel() * 4 / MIB
    channel = f"the inputs and output crossing the channel are {channel_mib:.0f} MiB of that"
    if before == held:
        message = f"peak memory grew {extra_mib:.0f} MiB during the call {where} ({channel})"
    else:
        message = (
            f"{where}, your process held {(held - bare) / MIB:.0f} MiB more than naive "
            "attention's process before the call, which counts as used by it (a buffer set "
            f"aside at import or in an earlier call is memory the call uses): {extra_mib:.0f} "
            f"MiB in all ({channel})"
        )
    message += f"; allowed {limit_mib:g} MiB"
    return Check(name, extra_mib <= limit_mib, round(extra_mib, 1), limit_mib, "MiB", message)
