# A correct cache whose nbytes() sizes it with the query heads (n_heads) instead of the KV heads, overstating it 4x under grouped-query attention.
from __future__ import annotations

import torch
from torch import Tensor

from quiz.lab.tinylm import TinyLM, attend


class KVCache:
    def __init__(self, model: TinyLM) -> None:
        self.config = model.config
        self.keys: list[Tensor] = []
        self.values: list[Tensor] = []
        self.length = 0

    def append(self, layer: int, k: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        if layer == len(self.keys):
            self.keys.append(k)
            self.values.append(v)
        else:
            self.keys[layer] = torch.cat((self.keys[layer], k), dim=2)
            self.values[layer] = torch.cat((self.values[layer], v), dim=2)
        return self.keys[layer], self.values[layer]

    def nbytes(self) -> int:
        c = self.config
        return 2 * c.n_layers * c.n_heads * c.head_dim * self.length * 4

    def keys_values(self, layer: int) -> tuple[Tensor, Tensor]:
        return self.keys[layer], self.values[layer]


@torch.inference_mode()
def generate(model: TinyLM, prompt: Tensor, max_new_tokens: int) -> tuple[Tensor, KVCache]:
    cache = KVCache(model)
    tokens = prompt.reshape(1, -1)
    out = []
    for _ in range(max_new_tokens):
        start = cache.length
        h = model.embed(tokens, start)
        for i, block in enumerate(model.blocks):
            q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
            keys, values = cache.append(i, k, v)
            h = h + block.attn.output(attend(q, keys, values))
            h = block.feed_forward(h)
        cache.length += tokens.shape[1]
        tokens = model.logits(h[:, -1:])[:, -1].argmax(-1, keepdim=True)
        out.append(tokens)
    return torch.cat(out, dim=1)[0], cache
