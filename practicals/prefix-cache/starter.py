"""Prompt caching across requests (practical prefix-cache).

``PrefixCachingEngine.prefill`` below recomputes every prompt from scratch. Make it reuse the
keys and values of prompt prefixes it has already seen, within ``budget_bytes``, evicting the
least recently used entries. ``python solution.py`` runs a quick local check.
"""

from __future__ import annotations

import time

import torch
from prefix_model import forward_with_past
from torch import Tensor

from quiz.lab.tinylm import TinyLM, tensor_bytes


class PrefixCachingEngine:
    def __init__(self, model: TinyLM, budget_bytes: int) -> None:
        self.model = model
        self.budget_bytes = budget_bytes

    @torch.inference_mode()
    def prefill(self, prompt: Tensor) -> Tensor:
        """The next-token logits ``[vocab]`` after ``prompt`` ``[T]``."""
        logits, _kv = forward_with_past(self.model, prompt)
        return logits

    def hit_rate(self) -> float:
        """The share of prompt tokens so far whose keys and values came from the cache."""
        return 0.0


if __name__ == "__main__":
    from prefix_model import SHARED_BUDGET_BYTES, build_model, shared_prefix_trace

    model = build_model()
    trace = shared_prefix_trace(1)
    start = time.perf_counter()
    expected = [forward_with_past(model, prompt)[0] for prompt in trace]
    plain_s = time.perf_counter() - start
    engine = PrefixCachingEngine(model, SHARED_BUDGET_BYTES)
    start = time.perf_counter()
    actual = [engine.prefill(prompt) for prompt in trace]
    cached_s = time.perf_counter() - start
    error = max((a - e).abs().max().item() for a, e in zip(actual, expected, strict=True))
    print(f"max logits difference {error:.2e} (must stay under 1e-3)")
    print(f"no caching {plain_s:.2f} s, yours {cached_s:.2f} s: {plain_s / cached_s:.1f}x")
    held = tensor_bytes(engine, exclude=model)
    print(f"hit rate {engine.hit_rate():.3f}; holding {held} B of {SHARED_BUDGET_BYTES} B")
