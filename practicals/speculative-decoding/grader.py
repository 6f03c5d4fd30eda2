"""Grades greedy speculative decoding: identical tokens to plain greedy decoding of the target
on five seeded prompts, at most half a target call per token, and a wall-clock speed-up over
plain greedy decoding measured interleaved in the same run. Reports the measured tokens per
target call beside Leviathan et al.'s expected value for the measured acceptance rate."""

from __future__ import annotations

import random
from typing import Any

import torch
from spec_models import TARGET_CONFIG, CachedLM, acceptance_rate, build_models, greedy_generate

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import Harness, speedup_check
from quiz.lab.tinylm import TinyLM

PROMPTS = 5
NEW_TOKENS = 64
PROMPT_LENGTHS = (8, 32)


def grade(ctx: GradeContext) -> list[Check]:
    target, draft = build_models()
    rng = random.Random(ctx.seed)
    prompts = [_prompt(rng.getrandbits(63)) for _ in range(PROMPTS)]
    expected = [greedy_generate(CachedLM(target), p, NEW_TOKENS) for p in prompts]

    solution = ctx.load_submission()
    generate = ctx.require(solution, "speculative_generate")
    gamma = int(getattr(solution, "GAMMA", 4))
    if not 1 <= gamma <= 16:
        raise SubmissionError(f"GAMMA must be between 1 and 16, not {gamma}")

    def run(t: CachedLM, d: CachedLM, prompt: torch.Tensor) -> torch.Tensor:
        try:
            out = generate(t, d, prompt, NEW_TOKENS, gamma)
        except SubmissionError:
            raise
        except Exception as err:
            raise SubmissionError(
                f"speculative_generate raised {type(err).__name__}: {err}"
            ) from err
        if not isinstance(out, torch.Tensor):
            raise SubmissionError(f"speculative_generate returned {type(out).__name__}")
        return out

    ctx.log(f"checking tokens on {PROMPTS} seeded prompts (gamma={gamma})")
    calls = _CallCounter(target)
    identical = 0
    first_bad = ""
    for i, (prompt, want) in enumerate(zip(prompts, expected, strict=True)):
        got = run(CachedLM(target), CachedLM(draft), prompt)
        if got.shape == want.shape and torch.equal(got.to(want.dtype), want):
            identical += 1
        elif not first_bad:
            first_bad = f"prompt {i + 1}: {_first_difference(got, want)}"
    target_calls = calls.stop()
    tokens = PROMPTS * NEW_TOKENS
    alpha = _mean_acceptance(target, draft, prompts, expected)
    per_call = tokens / target_calls if target_calls else float("inf")
    leviathan = _expected_tokens_per_call(alpha, gamma)
    ctx.details["speculation"] = {
        "gamma": gamma,
        "acceptance_rate_alpha": round(alpha, 4),
        "tokens_per_target_call": round(per_call, 3),
        "leviathan_expected_tokens_per_call": round(leviathan, 3),
        "target_calls": target_calls,
        "tokens": tokens,
    }
    checks = [
        Check(
            "identical to greedy decoding",
            identical == PROMPTS,
            identical,
            PROMPTS,
            "prompts",
            first_bad or f"every token matches plain greedy decoding of the target ({tokens})",
        ),
        Check(
            "target calls <= 0.5 x tokens",
            target_calls <= ctx.thresholds["target_calls_per_token_max"] * tokens,
            round(target_calls / tokens, 3),
            ctx.thresholds["target_calls_per_token_max"],
            "calls/token",
            f"{target_calls} target forward calls for {tokens} tokens: {per_call:.2f} tokens per "
            f"call; Leviathan et al. expect (1 - a^(g+1)) / (1 - a) = {leviathan:.2f} for the "
            f"measured acceptance rate a = {alpha:.2f} and g = {gamma}",
        ),
    ]
    if identical != PROMPTS:
        return [*checks, Check("speed-up vs greedy", False, message="skipped: wrong tokens")]
    ctx.log("timing plain greedy vs speculative decoding, interleaved")
    checks.append(_speed_check(ctx, target, draft, run, gamma))
    return checks


def _prompt(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    length = int(torch.randint(PROMPT_LENGTHS[0], PROMPT_LENGTHS[1] + 1, (1,), generator=generator))
    return torch.randint(TARGET_CONFIG.vocab_size, (length,), generator=generator)


class _CallCounter:
    """Counts the target's forward passes through a hook on its final norm, which every path
    to logits runs, whether through CachedLM or the model itself."""

    def __init__(self, target: TinyLM) -> None:
        self.count = 0
        self.handle = target.norm.register_forward_hook(self._hook)

    def _hook(self, *_: Any) -> None:
        self.count += 1

    def stop(self) -> int:
        self.handle.remove()
        return self.count


def _first_difference(got: torch.Tensor, want: torch.Tensor) -> str:
    if got.shape != want.shape:
        return f"returned shape {tuple(got.shape)}, expected {tuple(want.shape)}"
    index = int((got.to(want.dtype) != want).nonzero()[0])
    return f"token {index} is {int(got[index])}, greedy decoding gives {int(want[index])}"


def _mean_acceptance(target: Any, draft: Any, prompts: list, outputs: list) -> float:
    rates = [acceptance_rate(target, draft, p, o) for p, o in zip(prompts, outputs, strict=True)]
    return sum(rates) / len(rates)


def _expected_tokens_per_call(alpha: float, gamma: int) -> float:
    if alpha >= 1.0:
        return float(gamma + 1)
    return (1 - alpha ** (gamma + 1)) / (1 - alpha)


def _speed_check(ctx: GradeContext, target: Any, draft: Any, run: Any, gamma: int) -> Check:
    """Batch-1 decoding of a small model is bound by per-op overhead, which extra CPU threads
    only add to: on a CPU both sides run on one thread (restored afterwards)."""
    threads = torch.get_num_threads()
    harness = (
        ctx.harness if ctx.device.type == "cuda" else Harness(ctx.device, seed=ctx.seed, threads=1)
    )

    def make_inputs(seed: int) -> tuple[CachedLM, CachedLM, torch.Tensor]:
        return CachedLM(target), CachedLM(draft), _prompt(seed)

    def check(inputs: Any, base: torch.Tensor, cand: torch.Tensor) -> None:
        if not torch.equal(base, cand.to(base.dtype)):
            raise AssertionError("speculative output differs from greedy decoding")

    try:
        comparison = harness.compare(
            lambda x: greedy_generate(x[0], x[2], NEW_TOKENS),
            lambda x: run(x[0], x[1], x[2]),
            make_inputs,
            check=check,
            label=f"speculative decoding (gamma={gamma})",
            max_time_s=8.0,  # trials are long (a whole generation each): give the median more
            min_trials=12,
        )
    finally:
        torch.set_num_threads(threads)
    ctx.details["timing"] = comparison.to_dict()
    return speedup_check("speed-up vs greedy", comparison, ctx.thresholds["speedup_min"])
