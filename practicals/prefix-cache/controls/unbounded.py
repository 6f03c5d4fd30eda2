# Reuses shared prefixes correctly but never evicts anything: the cache grows past its byte budget.
from __future__ import annotations

import torch
from prefix_model import KV, forward_with_past, kv_slice
from torch import Tensor

from quiz.lab.tinylm import TinyLM


class PrefixCachingEngine:
    def __init__(self, model: TinyLM, budget_bytes: int) -> None:
        self.model = model
        self.entries: list[tuple[Tensor, KV]] = []
        self.prompt_tokens = 0
        self.reused_tokens = 0

    @torch.inference_mode()
    def prefill(self, prompt: Tensor) -> Tensor:
        best, best_kv = 0, None
        for tokens, kv in self.entries:
            n = min(tokens.numel(), prompt.numel() - 1)
            differ = (tokens[:n] != prompt[:n]).nonzero()
            shared = n if differ.numel() == 0 else int(differ[0, 0])
            if shared > best:
                best, best_kv = shared, kv
        past = kv_slice(best_kv, best) if best_kv is not None else None
        logits, kv = forward_with_past(self.model, prompt[best:], past)
        self.entries.append((prompt.clone(), kv))
        self.prompt_tokens += prompt.numel()
        self.reused_tokens += best
        return logits

    def hit_rate(self) -> float:
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0
