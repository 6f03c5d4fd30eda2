"""The models, the prefill helper, the request traces and the grading driver of the
prefix-cache practical.

The model is a 2-layer TinyLM (quiz.lab.tinylm) with synthetic weights from a fixed seed:
d_model 256, 8 query heads and 2 KV heads of dimension 32, RoPE, fp32 on the CPU. One cached
position costs ``CONFIG.kv_bytes_per_token()`` = 2 x 2 layers x 2 KV heads x 32 x 4 B = 1 KiB.
The byte budget is checked on a wider variant (``BUDGET_CONFIG``: 4 layers, 8 KV heads, 8 KiB
per position), where entries are megabytes, so what your process holds can be read from
outside it.

A KV (``KV``) is a list with one ``(keys, values)`` pair per layer, each
``[1, n_kv_heads, positions, head_dim]``.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from quiz.lab.tinylm import TinyLM, TinyLMConfig, attend, random_prompt

CONFIG = TinyLMConfig(
    vocab_size=256,
    d_model=256,
    n_layers=2,
    n_heads=8,
    n_kv_heads=2,
    ffn_dim=768,
    positions="rope",
    qk_norm=False,
    max_seq_len=1024,
    seed=23,
)
BUDGET_CONFIG = dataclasses.replace(CONFIG, n_layers=4, n_kv_heads=8)
KV = list[tuple[Tensor, Tensor]]

# The timed trace: requests that share one of a few long system prompts.
SHARED_PREFIXES = 3
SHARED_REQUESTS = 48
SHARED_PREFIX_LEN = (384, 512)
SUFFIX_LEN = (4, 16)
SHARED_BUDGET_BYTES = 8 * 2**20
# The eviction trace (on BUDGET_CONFIG's model): more distinct prefixes than the budget holds,
# and together far more than the budget check allows (the budget and the grader's allowance for
# allocator noise): with 5 prefixes an engine that never evicted fitted in that allowance.
EVICTION_PREFIXES = 16
EVICTION_REQUESTS = 32
EVICTION_PREFIX_LEN = (160, 224)
EVICTION_BUDGET_BYTES = 4 * 2**20


def build_model() -> TinyLM:
    """The fp32 model (deterministic: the same weights on every call)."""
    return TinyLM(CONFIG)


def build_budget_model() -> TinyLM:
    """The wider model the eviction trace and its byte budget run on."""
    return TinyLM(BUDGET_CONFIG)


@torch.inference_mode()
def forward_with_past(model: TinyLM, tokens: Tensor, past: KV | None = None) -> tuple[Tensor, KV]:
    """Prefill ``tokens`` ``[T]`` (T >= 1), the positions right after the ones in ``past``.

    Returns the last position's logits ``[vocab]`` and the KV of every position, past and new
    (fresh tensors: ``past`` is copied, not extended in place).
    """
    start = 0 if past is None else past[0][0].shape[2]
    h = model.embed(tokens.reshape(1, -1), start)
    present: KV = []
    for i, block in enumerate(model.blocks):
        q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
        if past is not None:
            k = torch.cat((past[i][0], k), dim=2)
            v = torch.cat((past[i][1], v), dim=2)
        present.append((k, v))
        h = h + block.attn.output(attend(q, k, v))
        h = block.feed_forward(h)
    return model.logits(h[:, -1:])[0, -1], present


def kv_positions(kv: KV) -> int:
    return kv[0][0].shape[2]


def kv_slice(kv: KV, positions: int) -> KV:
    """The first ``positions`` positions of ``kv``, as views (they keep the whole storage alive;
    ``.clone()`` them to own just that part)."""
    return [(k[:, :, :positions], v[:, :, :positions]) for k, v in kv]


def shared_prefix_trace(seed: int) -> list[Tensor]:
    """Requests ``[T]``: one of a few long system prompts (some far more popular than others)
    followed by a short user turn."""
    rng = random.Random(seed)
    prefixes = [
        random_prompt(CONFIG, rng.randint(*SHARED_PREFIX_LEN), rng.getrandbits(62))
        for _ in range(SHARED_PREFIXES)
    ]
    weights = [0.5, 0.3, 0.2][:SHARED_PREFIXES]
    picks = rng.choices(range(SHARED_PREFIXES), weights, k=SHARED_REQUESTS)
    return [_with_suffix(prefixes[i], rng) for i in picks]


def eviction_trace(seed: int) -> list[Tensor]:
    """Requests over more distinct prefixes than ``EVICTION_BUDGET_BYTES`` can hold at once:
    every prefix in turn, in a random order, each new one followed (while requests remain) by a
    repeat of one of the last two, which a least-recently-used cache of that budget still holds."""
    rng = random.Random(seed)
    prefixes = [
        random_prompt(CONFIG, rng.randint(*EVICTION_PREFIX_LEN), rng.getrandbits(62))
        for _ in range(EVICTION_PREFIXES)
    ]
    picks: list[int] = []
    order = rng.sample(range(EVICTION_PREFIXES), EVICTION_PREFIXES)
    for seen, index in enumerate(order, 1):
        picks.append(index)
        if len(picks) < EVICTION_REQUESTS - (EVICTION_PREFIXES - seen):
            recent = list(dict.fromkeys(reversed(picks)))[:2]
            picks.append(rng.choice(recent))
    return [_with_suffix(prefixes[i], rng) for i in picks]


def ideal_hit_rate(trace: list[Tensor]) -> float:
    """The share of prompt tokens an unbounded token-level prefix cache could reuse: for each
    request, its longest common prefix with any earlier request (at most all but one token)."""
    reused = 0
    for i, request in enumerate(trace):
        best = max((common_prefix(request, earlier) for earlier in trace[:i]), default=0)
        reused += min(best, request.numel() - 1)
    return reused / sum(r.numel() for r in trace)


def common_prefix(a: Tensor, b: Tensor) -> int:
    n = min(a.numel(), b.numel())
    differ = (a[:n] != b[:n]).nonzero()
    return n if differ.numel() == 0 else int(differ[0, 0])


def _with_suffix(prefix: Tensor, rng: random.Random) -> Tensor:
    suffix = random_prompt(CONFIG, rng.randint(*SUFFIX_LEN), rng.getrandbits(62))
    return torch.cat((prefix, suffix))


def serve(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The contestant's endpoints (run in the sandboxed contestant process, never in the
    referee). ``start(budget_bytes, model)`` builds a fresh engine (on "timed" or "budget"'s
    model) in place of the last one, ``prefill(prompt)`` and ``hit_rate()`` call it, and
    ``replay(trace)`` serves a whole trace with a fresh engine under the shared budget."""
    engine_class = getattr(solution, "PrefixCachingEngine", None)
    if not callable(engine_class):
        raise AttributeError("solution.py must define PrefixCachingEngine(model, budget_bytes)")
    models = {"timed": build_model(), "budget": build_budget_model()}
    engines: list[Any] = []

    def start(budget_bytes: int, model: str) -> None:
        engines.clear()
        engines.append(engine_class(models[model], int(budget_bytes)))

    @torch.inference_mode()
    def prefill(prompt: Tensor) -> Tensor:
        return engines[0].prefill(prompt)

    def hit_rate() -> float:
        return float(engines[0].hit_rate())

    @torch.inference_mode()
    def replay(trace: list[Tensor]) -> list[Tensor]:
        engines.clear()
        engine = engine_class(models["timed"], SHARED_BUDGET_BYTES)
        engines.append(engine)
        return [engine.prefill(prompt) for prompt in trace]

    return {"start": start, "prefill": prefill, "hit_rate": hit_rate, "replay": replay}
