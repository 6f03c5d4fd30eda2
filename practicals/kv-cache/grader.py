"""Grades kv-cache: the submission's cached greedy decoding must produce exactly the tokens of
full recomputation, be at least 4x faster at 256 new tokens, and hold exactly the K/V bytes the
formula predicts."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import torch
from kv_model import CONFIG, TIMED_NEW_TOKENS, build_model, prompt
from torch import Tensor

from quiz.lab.api import Check, GradeContext, SubmissionError
from quiz.lab.harness import Harness, speedup_check
from quiz.lab.tinylm import TinyLM, generate_full_recompute, tensor_bytes

Generate = Callable[[TinyLM, Tensor, int], Any]
CHECKED_PROMPTS = 5
CHECKED_NEW_TOKENS = 48
# Cached and full attention round differently (~1e-5 here); where fp32 ranks two tokens within
# this margin, either is a correct greedy choice, and the sequences are compared up to there.
TIE_MARGIN = 1e-3


def grade(ctx: GradeContext) -> list[Check]:
    solution = ctx.load_submission()
    generate = ctx.require(solution, "generate")
    model = build_model()
    rng = random.Random(ctx.seed)
    return [
        _tokens_check(ctx, model, generate, rng),
        _bytes_check(ctx, model, generate, rng),
        _speed_check(ctx, model, generate),
    ]


def _tokens_check(
    ctx: GradeContext, model: TinyLM, generate: Generate, rng: random.Random
) -> Check:
    ctx.log(f"decoding {CHECKED_PROMPTS} seeded prompts with and without your cache")
    lengths = [1, *(rng.randint(2, 96) for _ in range(CHECKED_PROMPTS - 1))]
    for i, length in enumerate(lengths):
        tokens = prompt(rng.getrandbits(63), length)
        expected = generate_full_recompute(model, tokens, CHECKED_NEW_TOKENS)
        actual, _ = _call(generate, model, tokens, CHECKED_NEW_TOKENS)
        try:
            compare_tokens(model, tokens, expected, actual)
        except AssertionError as err:
            message = f"prompt {i + 1} ({length} tokens): {err}"
            return Check(
                "tokens match full recompute", False, i, CHECKED_PROMPTS, "prompts", message
            )
    message = f"{CHECKED_NEW_TOKENS} greedy tokens identical on prompts of {lengths} tokens"
    return Check(
        "tokens match full recompute", True, len(lengths), CHECKED_PROMPTS, "prompts", message
    )


def _bytes_check(ctx: GradeContext, model: TinyLM, generate: Generate, rng: random.Random) -> Check:
    n_prompt, n_new = rng.randint(8, 64), rng.randint(8, 64)
    _, cache = _call(generate, model, prompt(rng.getrandbits(63), n_prompt), n_new)
    measured = tensor_bytes(cache, exclude=model)
    nbytes = getattr(cache, "nbytes", None)
    reported = int(nbytes()) if callable(nbytes) else None
    per_token = CONFIG.kv_bytes_per_token(torch.float32)
    allowed = {n_prompt + n_new - 1: per_token * (n_prompt + n_new - 1)}
    allowed[n_prompt + n_new] = per_token * (n_prompt + n_new)
    formula = (
        f"2 x layers {CONFIG.n_layers} x kv_heads {CONFIG.n_kv_heads} x head_dim "
        f"{CONFIG.head_dim} x 4 B = {per_token} B per position"
    )
    positions = next((t for t, b in allowed.items() if b == measured), None)
    ctx.details["cache_bytes"] = {"measured": measured, "reported": reported, "expected": allowed}
    if reported != measured:
        message = f"cache.nbytes() reports {reported} B but the cache's tensors hold {measured} B"
        passed = False
    elif positions is None:
        want = " or ".join(str(b) for b in allowed.values())
        message = (
            f"{measured} B after a {n_prompt}-token prompt and {n_new} new tokens; {formula}, so "
            f"{want} B for {n_prompt + n_new - 1} or {n_prompt + n_new} positions"
        )
        passed = False
    else:
        message = f"{measured} B = {positions} positions x {formula}"
        passed = True
    return Check("cache bytes = formula", passed, measured, max(allowed.values()), "B", message)


def _speed_check(ctx: GradeContext, model: TinyLM, generate: Generate) -> Check:
    threshold = ctx.thresholds["min_speedup"]
    n = TIMED_NEW_TOKENS
    ctx.log(f"timing full recompute vs your cache at {n} new tokens, interleaved")

    def check(tokens: Tensor, expected: Tensor, result: Any) -> None:
        compare_tokens(model, tokens, expected, _unpack(result, n)[0])

    try:
        comparison = _cpu_harness(ctx).compare(
            lambda tokens: generate_full_recompute(model, tokens, n),
            lambda tokens: generate(model, tokens, n),
            prompt,
            check=check,
            label="cached decoding",
            max_time_s=4.0,
            min_trials=3,
        )
    except SubmissionError as err:
        return Check(f"speed-up at {n} new tokens", False, None, threshold, "x", str(err))
    ctx.details["speedup"] = comparison.to_dict()
    return speedup_check(f"speed-up at {n} new tokens", comparison, threshold)


def compare_tokens(model: TinyLM, tokens: Tensor, expected: Tensor, actual: Tensor) -> None:
    """AssertionError at the first token that differs, unless fp32 ranks the two within
    TIE_MARGIN there (then the rest cannot be compared and is not)."""
    if actual.shape != expected.shape:
        raise AssertionError(f"{actual.numel()} tokens returned, {expected.numel()} expected")
    differ = (actual != expected).nonzero()
    if differ.numel() == 0:
        return
    i = int(differ[0, 0])
    with torch.inference_mode():
        logits = model(torch.cat((tokens, expected[:i]))[None])[0, -1]
    want, got = int(expected[i]), int(actual[i])
    if logits[want] - logits[got] > TIE_MARGIN:
        raise AssertionError(f"new token {i} is {got}, full recompute gives {want}")


def _call(generate: Generate, model: TinyLM, tokens: Tensor, n: int) -> tuple[Tensor, Any]:
    try:
        return _unpack(generate(model, tokens, n), n)
    except AssertionError as err:
        raise SubmissionError(str(err)) from None


def _unpack(result: Any, n: int) -> tuple[Tensor, Any]:
    """(new tokens ``[n]``, cache) from what ``generate`` returned."""
    if not (isinstance(result, tuple) and len(result) == 2):
        raise AssertionError("generate(model, prompt, n) must return (new_tokens, cache)")
    tokens, cache = result
    if not isinstance(tokens, Tensor) or tokens.is_floating_point() or tokens.numel() != n:
        raise AssertionError(f"new_tokens must be an integer tensor of {n} token ids")
    return tokens.reshape(n).long(), cache


def _cpu_harness(ctx: GradeContext) -> Harness:
    """The practical measures CPU inference: on a CUDA machine it still times on the CPU."""
    if ctx.device.type == "cpu":
        return ctx.harness
    return Harness(torch.device("cpu"), seed=ctx.seed)
