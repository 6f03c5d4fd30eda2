"""Attention without the N x N score matrix (practical tiled-attention).

``attention`` below is the naive version: it builds every score at once, so at N = 16384 the
scores alone take 1 GiB. Rewrite it to walk the keys and values in tiles with an online
softmax, so that memory stays small and the work stays in cache.
``python solution.py`` runs a quick local check; the grader is the judge.
"""

from __future__ import annotations

import time

import torch
from torch import Tensor


@torch.inference_mode()
def attention(
    q: Tensor, k: Tensor, v: Tensor, *, causal: bool = False, softcap: float | None = None
) -> Tensor:
    """softmax(q k^T / sqrt(d)) v for q ``[B, H, Nq, d]`` and k, v ``[B, H, Nk, d]``; with
    ``softcap``, each scaled score s becomes ``softcap * tanh(s / softcap)`` first; ``causal``
    hides the keys after each query's position (Nq == Nk)."""
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5  # TODO: never all at once
    if softcap is not None:
        scores = softcap * torch.tanh(scores / softcap)
    if causal:
        later = torch.ones(scores.shape[-2:], dtype=torch.bool).triu(1)
        scores = scores.masked_fill(later, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


if __name__ == "__main__":
    import torch.nn.functional as F

    q, k, v = (torch.randn(1, 2, 1000, 64) for _ in range(3))
    for causal in (False, True):
        error = (
            (
                attention(q, k, v, causal=causal)
                - F.scaled_dot_product_attention(q, k, v, is_causal=causal)
            )
            .abs()
            .max()
        )
        print(f"causal={causal}: max error vs scaled_dot_product_attention {float(error):.1e}")
    q, k, v = (torch.randn(1, 1, 6144, 64) for _ in range(3))
    start = time.perf_counter()
    attention(q, k, v, causal=True, softcap=30.0)
    print(f"N=6144 causal, softcap 30: {time.perf_counter() - start:.3f} s")
