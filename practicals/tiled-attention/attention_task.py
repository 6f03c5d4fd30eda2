"""The tiled-attention practical's public side: the naive attention it replaces, and the driver
that serves ``solution.attention`` to the grader.

Shapes: queries ``[B, H, Nq, d]``, keys and values ``[B, H, Nk, d]``, output ``[B, H, Nq, d]``,
all fp32 on the CPU. ``causal`` masks key positions after the query's own (``Nq == Nk``);
``softcap`` (a float, or None) squashes each scaled score ``s`` to ``softcap * tanh(s / softcap)``
before the softmax, as Gemma 2 does.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from torch import Tensor


def naive_attention(
    q: Tensor, k: Tensor, v: Tensor, *, causal: bool = False, softcap: float | None = None
) -> Tensor:
    """softmax(q k^T / sqrt(d)) v with the whole ``[Nq, Nk]`` score matrix in memory."""
    scores = (q @ k.transpose(-1, -2)) * q.shape[-1] ** -0.5
    if softcap is not None:
        scores = softcap * torch.tanh(scores / softcap)
    if causal:
        n_q, n_k = scores.shape[-2:]
        later = torch.ones(n_q, n_k, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(later, float("-inf"))
    return torch.softmax(scores, dim=-1) @ v


def serve(solution: ModuleType, init: Any = None) -> dict[str, Callable[..., Any]]:
    """The endpoint the grader calls: ``attention(inputs)`` with ``inputs`` a dict of ``q``,
    ``k``, ``v``, ``causal`` and ``softcap``; returns ``solution.attention``'s output."""
    attention = getattr(solution, "attention", None)
    if not callable(attention):
        raise TypeError("solution.py must define attention(q, k, v, *, causal=False, softcap=None)")

    @torch.inference_mode()
    def run(inputs: dict[str, Any]) -> Any:
        return attention(
            inputs["q"],
            inputs["k"],
            inputs["v"],
            causal=inputs["causal"],
            softcap=inputs["softcap"],
        )

    return {"attention": run}
