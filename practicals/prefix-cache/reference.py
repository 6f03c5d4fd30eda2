"""Prefix caching with an LRU byte budget: each served prompt's KV is kept as an entry; a new
prompt reuses the longest prefix it shares with any entry and prefills only the rest."""

from __future__ import annotations

from collections import OrderedDict

import torch
from prefix_model import KV, forward_with_past, kv_slice
from torch import Tensor

from quiz.lab.tinylm import TinyLM


class PrefixCachingEngine:
    def __init__(self, model: TinyLM, budget_bytes: int) -> None:
        self.model = model
        self.budget_bytes = budget_bytes
        # An entry holds its KV and its token ids (int64): both count against the budget.
        self.bytes_per_position = model.config.kv_bytes_per_token(torch.float32) + 8
        # prompt tokens (as a tuple) -> (tokens, KV); least recently used first
        self.entries: OrderedDict[tuple[int, ...], tuple[Tensor, KV]] = OrderedDict()
        self.cached_bytes = 0
        self.prompt_tokens = 0
        self.reused_tokens = 0

    @torch.inference_mode()
    def prefill(self, prompt: Tensor) -> Tensor:
        """The next-token logits ``[vocab]`` after ``prompt`` ``[T]``."""
        key, reused = self._longest_prefix(prompt)
        past = None
        if reused:
            self.entries.move_to_end(key)
            past = kv_slice(self.entries[key][1], reused)
        logits, kv = forward_with_past(self.model, prompt[reused:], past)
        self.prompt_tokens += prompt.numel()
        self.reused_tokens += reused
        self._insert(prompt, kv)
        return logits

    def hit_rate(self) -> float:
        """The share of prompt tokens so far whose keys and values came from the cache."""
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    def _longest_prefix(self, prompt: Tensor) -> tuple[tuple[int, ...], int]:
        """(entry key, positions reusable): at most all but the prompt's last token, whose
        logits must be computed anyway."""
        best_key: tuple[int, ...] = ()
        best = 0
        for key, (tokens, _) in self.entries.items():
            n = min(tokens.numel(), prompt.numel() - 1)
            differ = (tokens[:n] != prompt[:n]).nonzero()
            shared = n if differ.numel() == 0 else int(differ[0, 0])
            if shared > best:
                best_key, best = key, shared
        return best_key, best

    def _insert(self, prompt: Tensor, kv: KV) -> None:
        size = prompt.numel() * self.bytes_per_position
        if size > self.budget_bytes:
            return
        # An entry that is a prefix of this prompt is now redundant.
        for key in [k for k in self.entries if len(k) <= prompt.numel()]:
            if tuple(prompt[: len(key)].tolist()) == key:
                self._evict(key)
        while self.cached_bytes + size > self.budget_bytes:
            self._evict(next(iter(self.entries)))
        self.entries[tuple(prompt.tolist())] = (prompt.clone(), kv)
        self.cached_bytes += size

    def _evict(self, key: tuple[int, ...]) -> None:
        tokens, _ = self.entries.pop(key)
        self.cached_bytes -= tokens.numel() * self.bytes_per_position
