# Caches KV keyed by the whole prompt, so it only ever hits on an identical prompt: requests that share a system prompt but differ in the user turn never reuse anything.
from __future__ import annotations

from collections import OrderedDict

import torch
from prefix_model import KV, forward_with_past
from torch import Tensor

from quiz.lab.tinylm import TinyLM


class PrefixCachingEngine:
    def __init__(self, model: TinyLM, budget_bytes: int) -> None:
        self.model = model
        self.budget_bytes = budget_bytes
        self.per_position = model.config.kv_bytes_per_token(torch.float32)
        self.entries: OrderedDict[tuple[int, ...], KV] = OrderedDict()
        self.prompt_tokens = 0
        self.reused_tokens = 0

    def prefill(self, prompt: Tensor) -> Tensor:
        key = tuple(prompt.tolist())
        self.prompt_tokens += prompt.numel()
        if key in self.entries:  # never true on a trace of distinct user turns
            self.entries.move_to_end(key)
            self.reused_tokens += prompt.numel() - 1
            past = [(k[:, :, :-1], v[:, :, :-1]) for k, v in self.entries[key]]
            return forward_with_past(self.model, prompt[-1:], past)[0]
        logits, kv = forward_with_past(self.model, prompt)
        self.entries[key] = kv
        while sum(len(k) for k in self.entries) * self.per_position > self.budget_bytes:
            self.entries.popitem(last=False)
        return logits

    def hit_rate(self) -> float:
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0
