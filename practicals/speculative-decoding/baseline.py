"""The baseline the grader times against: plain greedy decoding of the target with the same KV
cache, one target call per token (trusted code)."""

from __future__ import annotations

from spec_models import CachedLM, greedy_generate
from torch import Tensor

GAMMA = 1


def speculative_generate(
    target: CachedLM, draft: CachedLM, prompt: Tensor, max_new_tokens: int, gamma: int = GAMMA
) -> Tensor:
    return greedy_generate(target, prompt, max_new_tokens)
