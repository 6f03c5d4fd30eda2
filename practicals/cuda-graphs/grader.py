"""Grades CUDA-graph capture of a batch-1 decode step: outputs identical to the eager step over
a sequence of steps, and a speed-up of at least 1.5x at batch 1 timed interleaved."""

from __future__ import annotations

from typing import Any

import torch
from decode_step import CONFIG, DecodeStep, build_model

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import assert_close, speedup_check

STEPS = 48
TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}


def grade(ctx: GradeContext) -> list[Check]:
    if ctx.device.type != "cuda":
        return [Check("needs a CUDA GPU", False, message=f"graded on {ctx.device}")]
    model = build_model()
    solution = ctx.load_submission()
    capture = ctx.require(solution, "capture")
    checks = []
    for batch in (1, 8):
        eager = DecodeStep(model, batch, ctx.device)
        graphed_step = DecodeStep(model, batch, ctx.device)
        try:
            graphed = capture(graphed_step)
        except Exception as err:
            raise SubmissionError(f"capture() failed: {type(err).__name__}: {err}") from err
        if batch == 1:
            ctx.log(f"comparing {STEPS} graphed decode steps with the eager step")
            checks.append(_identical(ctx, eager, graphed_step, graphed))
            if not checks[0].passed:
                return [*checks, Check("speed-up at batch 1", False, message="skipped: wrong")]
        ctx.log(f"timing eager vs graphed decode steps at batch {batch}, interleaved")
        comparison = _compare(ctx, eager, graphed_step, graphed)
        ctx.details[f"batch_{batch}"] = comparison.to_dict()
        if batch == 1:
            checks.append(speedup_check("speed-up at batch 1", comparison,
                                        ctx.thresholds["speedup_min"]))  # fmt: skip
    return checks


def _feed(step: DecodeStep, tokens: torch.Tensor, position: int) -> None:
    step.tokens.copy_(tokens)
    step.position.fill_(position)


def _identical(ctx: GradeContext, eager: DecodeStep, target: DecodeStep, graphed: Any) -> Check:
    gen = torch.Generator().manual_seed(ctx.seed)
    for position in range(STEPS):
        tokens = torch.randint(CONFIG.vocab_size, (1, 1), generator=gen).to(ctx.device)
        _feed(eager, tokens, position)
        _feed(target, tokens, position)
        want = eager().clone()
        got = graphed()
        try:
            assert_close(got, want, **TOLERANCE)
        except AssertionError as err:
            return Check("identical to the eager step", False, position, STEPS, "steps", str(err))
    return Check("identical to the eager step", True, STEPS, STEPS, "steps",
                 "every step's logits match the eager step")  # fmt: skip


def _compare(ctx: GradeContext, eager: DecodeStep, target: DecodeStep, graphed: Any) -> Any:
    batch = eager.tokens.shape[0]

    def make_inputs(seed: int) -> tuple[torch.Tensor, int]:
        gen = torch.Generator().manual_seed(seed)
        tokens = torch.randint(CONFIG.vocab_size, (batch, 1), generator=gen).to(ctx.device)
        return tokens, seed % CONFIG.max_seq_len

    def run_eager(inputs: tuple[torch.Tensor, int]) -> torch.Tensor:
        _feed(eager, *inputs)
        return eager()

    def run_graphed(inputs: tuple[torch.Tensor, int]) -> torch.Tensor:
        _feed(target, *inputs)
        return graphed()

    def check(_: Any, base: torch.Tensor, cand: torch.Tensor) -> None:
        assert_close(cand, base, **TOLERANCE)

    return ctx.harness.compare(run_eager, run_graphed, make_inputs, check=check,
                               label=f"CUDA graph, batch {batch}")  # fmt: skip
