# Trusts the draft: emits every proposal without checking it against the target (fast, wrong).
"""Draft tokens accepted unverified; the target only supplies the token after them."""

import torch
from spec_models import CachedLM
from torch import Tensor

GAMMA = 4


@torch.inference_mode()
def speculative_generate(
    target: CachedLM, draft: CachedLM, prompt: Tensor, max_new_tokens: int, gamma: int = GAMMA
) -> Tensor:
    """The target's greedy continuation of ``prompt``, ``max_new_tokens`` long, computed with
    ``gamma`` draft tokens verified per target call. Both caches start empty.

    Invariant between rounds: both caches hold every token except the last one emitted (the
    draft's may lag one token behind, after a round that accepted all its proposals).
    """
    seq = prompt.tolist()
    seq.append(int(target.forward(prompt)[-1].argmax()))
    produced = 1
    while produced < max_new_tokens:
        context = len(seq) - 1  # positions both caches must hold after this round's rollback
        proposals = []
        logits = draft.forward(torch.tensor(seq[draft.length :]))
        for i in range(gamma):
            proposals.append(int(logits[-1].argmax()))
            if i + 1 < gamma:
                logits = draft.forward(torch.tensor(proposals[-1:]))
        checked = target.forward(torch.tensor([seq[-1], *proposals])).argmax(-1).tolist()
        accepted = gamma
        seq.extend(proposals[:accepted])
        seq.append(checked[accepted])  # the target's correction, or a bonus token
        produced += accepted + 1
        target.rollback(context + 1 + accepted)
        draft.rollback(min(draft.length, context + 1 + accepted))
    return torch.tensor(seq[len(prompt) : len(prompt) + max_new_tokens])
