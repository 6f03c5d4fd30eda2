# Online softmax that forgets to rescale: when a new tile raises a row's maximum, the sums
# gathered under the old maximum are not multiplied by exp(old_max - new_max), so rows whose
# maximum moves after the first tile are weighted wrongly.
from __future__ import annotations

import torch
from torch import Tensor

BLOCK = 256


@torch.inference_mode()
def attention(
    q: Tensor, k: Tensor, v: Tensor, *, causal: bool = False, softcap: float | None = None
) -> Tensor:
    n_q, n_k = q.shape[-2], k.shape[-2]
    out = torch.empty_like(q)
    for start in range(0, n_q, BLOCK):
        stop = min(start + BLOCK, n_q)
        q_block = q[..., start:stop, :] * q.shape[-1] ** -0.5
        row_max = torch.full((*q_block.shape[:-1], 1), float("-inf"))
        row_sum = torch.zeros_like(row_max)
        acc = torch.zeros_like(q_block)
        for k_start in range(0, stop if causal else n_k, BLOCK):
            k_stop = min(k_start + BLOCK, stop if causal else n_k)
            scores = q_block @ k[..., k_start:k_stop, :].transpose(-1, -2)
            if softcap is not None:
                scores = softcap * torch.tanh(scores / softcap)
            if causal:
                later = torch.arange(k_start, k_stop)[None, :] > torch.arange(start, stop)[:, None]
                scores = scores.masked_fill(later, float("-inf"))
            row_max = torch.maximum(row_max, scores.amax(-1, keepdim=True))
            probs = torch.exp(scores - row_max)
            row_sum = row_sum + probs.sum(-1, keepdim=True)
            acc = acc + probs @ v[..., k_start:k_stop, :]
        out[..., start:stop, :] = acc / row_sum
    return out
