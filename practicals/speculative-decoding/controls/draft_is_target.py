# Uses the target as its own draft (the workspace's target model, built again): exact, few verify calls, but drafting costs as much as decoding.
"""Speculation without a cheaper draft: no speed-up."""

from reference import GAMMA
from reference import speculative_generate as speculate
from spec_models import CachedLM, build_models
from torch import Tensor

_TARGET = build_models()[0]


def speculative_generate(
    target: CachedLM, draft: CachedLM, prompt: Tensor, max_new_tokens: int, gamma: int = GAMMA
) -> Tensor:
    return speculate(target, CachedLM(_TARGET), prompt, max_new_tokens, gamma)
