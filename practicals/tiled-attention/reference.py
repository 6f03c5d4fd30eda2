"""Tiled attention with an online softmax (FlashAttention's forward pass) on the CPU.

Each block of queries walks the keys and values block by block, keeping per row the running
maximum score, the running softmax denominator and an unnormalised output; when a new block
raises the maximum, the old sums are rescaled by exp(old_max - new_max). Only one
``[Q_BLOCK, K_BLOCK]`` tile of scores exists at a time, and a causal query block stops at the
diagonal, skipping the tiles the mask would zero.
"""

from __future__ import annotations

import torch
from torch import Tensor

Q_BLOCK = 256
K_BLOCK = 512


@torch.inference_mode()
def attention(
    q: Tensor, k: Tensor, v: Tensor, *, causal: bool = False, softcap: float | None = None
) -> Tensor:
    n_q, n_k = q.shape[-2], k.shape[-2]
    if causal and n_q != n_k:
        raise ValueError(f"causal attention needs as many queries as keys ({n_q} != {n_k})")
    out = torch.empty_like(q)
    for start in range(0, n_q, Q_BLOCK):
        stop = min(start + Q_BLOCK, n_q)
        keys_end = stop if causal else n_k
        out[..., start:stop, :] = _query_block(q, k, v, start, stop, keys_end, causal, softcap)
    return out


def _query_block(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    start: int,
    stop: int,
    keys_end: int,
    causal: bool,
    softcap: float | None,
) -> Tensor:
    q_block = q[..., start:stop, :] * q.shape[-1] ** -0.5
    rows = (*q_block.shape[:-1], 1)
    row_max = torch.full(rows, float("-inf"))
    row_sum = torch.zeros(rows)
    acc = torch.zeros_like(q_block)
    for k_start in range(0, keys_end, K_BLOCK):
        k_stop = min(k_start + K_BLOCK, keys_end)
        scores = q_block @ k[..., k_start:k_stop, :].transpose(-1, -2)
        if softcap is not None:
            scores = torch.tanh(scores.div_(softcap)).mul_(softcap)
        if causal and k_stop > start:
            later = torch.arange(k_start, k_stop)[None, :] > torch.arange(start, stop)[:, None]
            scores.masked_fill_(later, float("-inf"))
        new_max = torch.maximum(row_max, scores.amax(-1, keepdim=True))
        probs = scores.sub_(new_max).exp_()
        rescale = torch.exp(row_max - new_max)
        row_sum = row_sum.mul_(rescale).add_(probs.sum(-1, keepdim=True))
        acc = acc.mul_(rescale).add_(probs @ v[..., k_start:k_stop, :])
        row_max = new_max
    return acc.div_(row_sum)
