"""Greedy decoding for a small decoder (practical kv-cache).

``generate`` below recomputes the whole sequence for every new token. Give it a KV cache: run
the prompt once, keep each layer's keys and values, then feed one token per step.
``python solution.py`` runs a quick local check; the grader is the judge.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor

from quiz.lab.tinylm import TinyLM, generate_full_recompute


class KVCache:
    """TODO: each layer's keys and values ``[1, n_kv_heads, positions, head_dim]``."""

    def nbytes(self) -> int:
        """Bytes of the keys and values this cache holds."""
        return 0

    def keys_values(self, layer: int) -> tuple[Tensor, Tensor]:
        """This layer's keys and values ``[1, n_kv_heads, positions filled, head_dim]``."""
        raise NotImplementedError("TODO: return this layer's cached keys and values")


@torch.inference_mode()
def generate(model: TinyLM, prompt: Tensor, max_new_tokens: int) -> tuple[Tensor, KVCache]:
    """Greedy-decode ``max_new_tokens`` tokens after ``prompt`` ``[T]``; return
    ``(new_tokens [max_new_tokens], cache)``."""
    cache = KVCache()
    seq = prompt.reshape(1, -1)
    for _ in range(max_new_tokens):
        logits = model(seq)  # every position, every step
        next_token = logits[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat((seq, next_token), dim=1)
    return seq[0, prompt.numel() :], cache


if __name__ == "__main__":
    from kv_model import CONFIG, TIMED_NEW_TOKENS, build_model, prompt

    model = build_model()
    tokens = prompt(1)
    start = time.perf_counter()
    expected = generate_full_recompute(model, tokens, TIMED_NEW_TOKENS)
    full_s = time.perf_counter() - start
    start = time.perf_counter()
    actual, cache = generate(model, tokens, TIMED_NEW_TOKENS)
    cached_s = time.perf_counter() - start
    print(f"identical tokens: {torch.equal(actual, expected)}")
    print(f"full recompute {full_s:.2f} s, yours {cached_s:.2f} s: {full_s / cached_s:.1f}x")
    positions = tokens.numel() + TIMED_NEW_TOKENS - 1
    print(
        f"cache.nbytes() = {cache.nbytes()}, formula for {positions} positions = "
        f"{CONFIG.kv_bytes_per_token() * positions}"
    )
