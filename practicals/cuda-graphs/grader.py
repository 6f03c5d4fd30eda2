"""Grades CUDA-graph capture of a batch-1 decode step: outputs identical to the eager step (run
here, in the referee) over a sequence of steps, and a speed-up of at least 1.5x at batch 1 over
the eager step in its own contestant process, timed from here, interleaved. Each request carries
K steps so that the channel's round trip stays a small share of what is timed."""

from __future__ import annotations

from typing import Any

import torch
from decode_step import CONFIG, DecodeStep, build_model

from quiz.lab.api import Check, GradeContext
from quiz.lab.harness import assert_close, speedup_check
from quiz.lab.referee import Contestant

STEPS = 48
STEPS_PER_REQUEST = 16
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def grade(ctx: GradeContext) -> list[Check]:
    if ctx.device.type != "cuda":
        return [Check("needs a CUDA GPU", False, message=f"graded on {ctx.device}")]
    checks: list[Check] = []
    for batch in (1, 8):
        init = {"batch": batch}
        candidate = ctx.start_contestant("decode_step:serve", init=init)
        baseline = ctx.start_contestant("decode_step:serve", solution="baseline.py", init=init)
        if batch == 1:
            ctx.log(f"comparing {STEPS} graphed decode steps with the eager step")
            checks.append(identical(ctx, candidate))
            if not checks[0].passed:
                return [*checks, Check("speed-up at batch 1", False, message="skipped: wrong")]
        ctx.log(f"timing eager vs graphed decode steps at batch {batch}, interleaved")
        threshold = ctx.thresholds["speedup_min"]
        comparison = ctx.compare(
            baseline,
            candidate,
            "steps",
            make_inputs(batch),
            check=_check,
            label=f"CUDA graph, batch {batch}",
            threshold=threshold if batch == 1 else None,
        )
        ctx.details[f"batch_{batch}"] = comparison.to_dict()
        if batch == 1:
            checks.append(speedup_check("speed-up at batch 1", comparison, threshold))
        candidate.close()
        baseline.close()
    return checks


def sequence(seed: int, batch: int, count: int) -> tuple[torch.Tensor, list[int]]:
    """``count`` decode steps of fresh tokens at positions 0..count-1."""
    gen = torch.Generator().manual_seed(seed % 2**63)
    tokens = torch.randint(CONFIG.vocab_size, (count, batch, 1), generator=gen)
    return tokens, list(range(count))


def make_inputs(batch: int) -> Any:
    """Fresh tokens at positions 0..K-1 in every request: a request then overwrites every cache
    slot it can see, so its logits depend on nothing an earlier request left in the KV cache.
    The two sides are not called equally often (the identity check and the channel probe call
    one of them); at random start positions their caches differed and the first timed trial
    failed on the H200 with every logit mismatched."""

    def inputs(seed: int) -> tuple[torch.Tensor, list[int]]:
        return sequence(seed, batch, STEPS_PER_REQUEST)

    return inputs


def eager_logits(tokens: torch.Tensor, positions: list[int], device: torch.device) -> torch.Tensor:
    """The referee's own eager decode of the same steps, on a fresh step of its own."""
    step = DecodeStep(build_model(), tokens.shape[1], device)
    outs = []
    for k, position in enumerate(positions):
        step.tokens.copy_(tokens[k].to(device))
        step.position.fill_(position)
        outs.append(step().clone().cpu())
    return torch.stack(outs)


def identical(ctx: GradeContext, candidate: Contestant) -> Check:
    tokens, positions = sequence(ctx.seed, 1, STEPS)
    want = eager_logits(tokens, positions, ctx.device)
    got = candidate.call("steps", (tokens, positions))
    return compare_steps(got, want)


def compare_steps(got: Any, want: torch.Tensor) -> Check:
    name = "identical to the eager step"
    if not isinstance(got, torch.Tensor) or got.shape != want.shape:
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return Check(
            name, False, 0, len(want), "steps", f"expected logits {tuple(want.shape)}, got {shape}"
        )
    for k in range(len(want)):
        try:
            assert_close(got[k], want[k], **TOLERANCE)
        except AssertionError as err:
            return Check(name, False, k, len(want), "steps", f"step {k}: {err}")
    return Check(
        name, True, len(want), len(want), "steps", "every step's logits match the eager step"
    )


def _check(_: Any, base: torch.Tensor, cand: torch.Tensor) -> None:
    assert_close(cand, base, **TOLERANCE)
