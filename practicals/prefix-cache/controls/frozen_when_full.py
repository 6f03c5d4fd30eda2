# Reuses the longest cached prefix correctly, but never evicts: it caches prompts while they fit
# in half the budget, then stops caching for good, so what was used recently is not kept.
from __future__ import annotations

from typing import Any

from prefix_model import common_prefix, forward_with_past, kv_slice
from torch import Tensor


class PrefixCachingEngine:
    def __init__(self, model: Any, budget_bytes: int) -> None:
        self.model = model
        self.room = budget_bytes // 2
        self.bytes_per_position = model.config.kv_bytes_per_token() + 8
        self.entries: list[tuple[Tensor, Any]] = []
        self.served = 0
        self.reused = 0

    def prefill(self, prompt: Tensor) -> Tensor:
        best, best_kv = 0, None
        for tokens, kv in self.entries:
            shared = min(common_prefix(prompt, tokens), prompt.numel() - 1)
            if shared > best:
                best, best_kv = shared, kv
        past = kv_slice(best_kv, best) if best_kv is not None else None
        logits, kv = forward_with_past(self.model, prompt[best:], past)
        self.served += prompt.numel()
        self.reused += best
        size = prompt.numel() * self.bytes_per_position
        if best == 0 and size <= self.room:
            self.entries.append((prompt.clone(), kv))
            self.room -= size
        return logits

    def hit_rate(self) -> float:
        return self.reused / self.served if self.served else 0.0
