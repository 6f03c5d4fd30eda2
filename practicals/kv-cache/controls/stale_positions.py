# A cache that is wrong after the first step: every new token is embedded and rotated as if it sat at position 0.
from __future__ import annotations

import torch
from torch import Tensor

from quiz.lab.tinylm import TinyLM, attend


class KVCache:
    def __init__(self, n_layers: int) -> None:
        self.keys: list[Tensor | None] = [None] * n_layers
        self.values: list[Tensor | None] = [None] * n_layers

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        old_k, old_v = self.keys[layer], self.values[layer]
        keys = k if old_k is None else torch.cat((old_k, k), dim=2)
        values = v if old_v is None else torch.cat((old_v, v), dim=2)
        self.keys[layer], self.values[layer] = keys, values
        return keys, values

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values if t is not None)

    def keys_values(self, layer: int) -> tuple[Tensor | None, Tensor | None]:
        return self.keys[layer], self.values[layer]


@torch.inference_mode()
def generate(model: TinyLM, prompt: Tensor, max_new_tokens: int) -> tuple[Tensor, KVCache]:
    cache = KVCache(len(model.blocks))
    tokens = prompt.reshape(1, -1)
    out = []
    for _ in range(max_new_tokens):
        h = model.embed(tokens)  # BUG: start_pos should be the number of cached positions
        for i, block in enumerate(model.blocks):
            q, k, v = block.attn.project_qkv(block.attn_norm(h))
            keys, values = cache.append(i, k, v)
            h = h + block.attn.output(attend(q, keys, values))
            h = block.feed_forward(h)
        tokens = model.logits(h[:, -1:])[:, -1].argmax(-1, keepdim=True)
        out.append(tokens)
    return torch.cat(out, dim=1)[0], cache
