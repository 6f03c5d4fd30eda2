"""Greedy decoding with a KV cache: prefill the prompt once, then feed one token per step."""

from __future__ import annotations

import torch
from torch import Tensor

from quiz.lab.tinylm import TinyLM, TinyLMConfig, attend


class KVCache:
    """Per-layer keys and values ``[1, kv_heads, capacity, head_dim]``, filled up to ``length``.

    Allocated once at the exact size the request needs, so appending is a slice copy rather than
    a ``torch.cat`` of the whole history every step.
    """

    def __init__(self, config: TinyLMConfig, capacity: int) -> None:
        shape = (1, config.n_kv_heads, capacity, config.head_dim)
        self.keys = [torch.empty(shape) for _ in range(config.n_layers)]
        self.values = [torch.empty(shape) for _ in range(config.n_layers)]
        self.length = 0

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """Store the new positions' ``k``/``v``; return this layer's keys and values so far."""
        end = self.length + k.shape[2]
        self.keys[layer][:, :, self.length : end] = k
        self.values[layer][:, :, self.length : end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)

    def keys_values(self, layer: int) -> tuple[Tensor, Tensor]:
        """This layer's keys and values of the positions filled so far."""
        return self.keys[layer][:, :, : self.length], self.values[layer][:, :, : self.length]


def forward_step(model: TinyLM, tokens: Tensor, cache: KVCache) -> Tensor:
    """Run ``tokens`` ``[1, T]`` (the positions after those cached); return the last logits."""
    start = cache.length
    h = model.embed(tokens, start)
    for i, block in enumerate(model.blocks):
        q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
        keys, values = cache.append(i, k, v)
        h = h + block.attn.output(attend(q, keys, values))
        h = block.feed_forward(h)
    cache.length += tokens.shape[1]
    return model.logits(h[:, -1:])[:, -1]


@torch.inference_mode()
def generate(model: TinyLM, prompt: Tensor, max_new_tokens: int) -> tuple[Tensor, KVCache]:
    """Greedy-decode ``max_new_tokens`` tokens after ``prompt`` ``[T]``; return them and the cache."""
    cache = KVCache(model.config, prompt.numel() + max_new_tokens - 1)
    tokens = prompt.reshape(1, -1)
    new_tokens = []
    for _ in range(max_new_tokens):
        tokens = forward_step(model, tokens, cache).argmax(-1, keepdim=True)
        new_tokens.append(tokens)
    return torch.cat(new_tokens, dim=1)[0], cache
