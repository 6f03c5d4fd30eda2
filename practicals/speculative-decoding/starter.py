"""Speculative decoding. The grader calls ``speculative_generate(target, draft, prompt,
max_new_tokens, GAMMA)`` with two fresh ``CachedLM``s (see README.md) and compares the result,
token for token, with plain greedy decoding of the target.

This version is plain greedy decoding: exact, but one target call per token. Make the draft
propose ``gamma`` tokens and let one target call check them all.
"""

import torch
from spec_models import CachedLM
from torch import Tensor

GAMMA = 4


@torch.inference_mode()
def speculative_generate(
    target: CachedLM, draft: CachedLM, prompt: Tensor, max_new_tokens: int, gamma: int = GAMMA
) -> Tensor:
    out = [int(target.forward(prompt)[-1].argmax())]
    while len(out) < max_new_tokens:
        out.append(int(target.forward(torch.tensor(out[-1:]))[-1].argmax()))
    return torch.tensor(out)
