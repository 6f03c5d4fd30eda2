"""The target and draft models for speculative decoding, and a KV cache that rolls back.

The target is a 12-block TinyLM (quiz.lab.tinylm, seeded weights). The draft is its first
block with the target's own embedding, final norm and head. Blocks 2-12 of the target have
their residual output projections (attention ``o_proj`` and MLP ``down``) scaled by
``EXTRA_BLOCK_SCALE``, so they nudge rather than overwrite the first block's prediction: the
draft's argmax agrees with the target's most of the time, as a well-distilled draft's does.
At 0.3 the per-token acceptance rate on random prompts averages about 0.83 (0.66-0.97 per
prompt; ``acceptance_rate`` measures it, the tests pin it between 0.5 and 0.9); an unmodified
12-block model gives about 0.64. The model is small (128 wide) so that batch-1 decoding is
bound by per-op overhead, as a big model's decode is bound by weight reads: a forward over a
few new tokens costs little more than over one. The draft costs about a seventh of the target
per token (its embedding, head and Python overhead are not cut down with the blocks).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from quiz.lab.contestant import ask_referee
from quiz.lab.tinylm import TinyLM, TinyLMConfig, draft_config

TARGET_CONFIG = TinyLMConfig(
    vocab_size=256,
    d_model=128,
    n_layers=12,
    n_heads=8,
    n_kv_heads=2,
    ffn_dim=384,
    max_seq_len=512,
    seed=20240,
)
DRAFT_LAYERS = 1
EXTRA_BLOCK_SCALE = 0.3
NEW_TOKENS = 64
MAX_GAMMA = 16


def build_models(seed: int = TARGET_CONFIG.seed) -> tuple[TinyLM, TinyLM]:
    """(target, draft) with the weights drawn from ``seed`` (by default the ones your workspace
    and the timed comparison use; the grader counts target calls on secret ones)."""
    target = TinyLM(dataclasses.replace(TARGET_CONFIG, seed=seed))
    with torch.no_grad():
        for block in target.blocks[DRAFT_LAYERS:]:
            block.attn.o_proj.weight.mul_(EXTRA_BLOCK_SCALE)
            block.mlp.down.weight.mul_(EXTRA_BLOCK_SCALE)
    draft = TinyLM(draft_config(TARGET_CONFIG, DRAFT_LAYERS))
    shared = {k: v for k, v in target.state_dict().items() if k in draft.state_dict()}
    draft.load_state_dict(shared)
    return target, draft


class CachedLM:
    """A model with a KV cache: ``forward(tokens)`` runs only the new ``tokens`` ``[T]`` against
    everything cached, appends their keys and values, and returns their next-token logits
    ``[T, vocab]``. ``rollback(n)`` forgets every cached position from ``n`` on. ``calls``
    counts forward calls."""

    def __init__(self, model: TinyLM) -> None:
        cfg = model.config
        self.model = model
        self.length = 0
        self.calls = 0
        shape = (1, cfg.n_kv_heads, cfg.max_seq_len, cfg.head_dim)
        self._keys = [torch.empty(shape) for _ in model.blocks]
        self._values = [torch.empty(shape) for _ in model.blocks]

    @torch.inference_mode()
    def forward(self, tokens: Tensor) -> Tensor:
        start, count = self.length, tokens.numel()
        end = start + count
        h = self.model.embed(tokens.reshape(1, count), start)
        # New token i sees every cached position and new tokens up to itself; one mask serves
        # every layer (tinylm.attend would rebuild it per layer).
        mask = torch.ones(count, end, dtype=torch.bool).tril(start) if count > 1 else None
        for block, keys, values in zip(self.model.blocks, self._keys, self._values, strict=True):
            q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
            keys[:, :, start:end] = k
            values[:, :, start:end] = v
            o = F.scaled_dot_product_attention(
                q, keys[:, :, :end], values[:, :, :end], attn_mask=mask, enable_gqa=True
            )
            h = h + block.attn.output(o)
            h = block.feed_forward(h)
        self.length = end
        self.calls += 1
        return self.model.logits(h)[0]

    def rollback(self, length: int) -> None:
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot roll back to {length}: {self.length} positions are cached")
        self.length = length


@torch.inference_mode()
def greedy_generate(lm: CachedLM, prompt: Tensor, max_new_tokens: int) -> Tensor:
    """Plain greedy decoding with the KV cache: one forward call per new token. The baseline."""
    logits = lm.forward(prompt)
    out = [int(logits[-1].argmax())]
    while len(out) < max_new_tokens:
        logits = lm.forward(torch.tensor(out[-1:]))
        out.append(int(logits[-1].argmax()))
    return torch.tensor(out)


@torch.inference_mode()
def acceptance_rate(target: TinyLM, draft: TinyLM, prompt: Tensor, continuation: Tensor) -> float:
    """Share of positions along ``continuation`` (the target's greedy output) where the draft's
    argmax, given the same prefix, is the target's token: alpha of Leviathan et al."""
    seq = torch.cat((prompt, continuation)).reshape(1, -1)
    start = prompt.numel() - 1
    picks = draft(seq)[0, start:-1].argmax(-1)
    return float((picks == continuation).float().mean())


class RemoteLM:
    """The target while you are graded: ``CachedLM``'s interface (``forward``, ``rollback``,
    ``length``), but the model, with weights drawn from a secret seed, and its KV cache live in
    the grader's process, which runs every forward pass, counts it and times it as part of your
    call. Nothing in this process can compute that target's logits, so every target call is one
    the grader sees. A rollback travels with the next forward call (no round trip of its own)."""

    def __init__(self) -> None:
        self.length = 0
        self._held = 0  # positions the grader's cache holds

    def forward(self, tokens: Tensor) -> Tensor:
        question: dict[str, Any] = {"forward": tokens.reshape(-1).to(torch.long)}
        if self._held != self.length:
            question["rollback"] = self.length
        logits = ask_referee(question)
        self.length += tokens.numel()
        self._held = self.length
        return logits

    def rollback(self, length: int) -> None:
        if not 0 <= length <= self.length:
            raise ValueError(f"cannot roll back to {length}: {self.length} positions are cached")
        self.length = int(length)


def serve(solution: Any, init: Any) -> dict[str, Callable[..., Any]]:
    """The contestant's endpoints (run in the sandboxed contestant process, never in the
    referee):

    - ``use_draft(state)``: keeps a draft with the weights ``state`` (the secret target's first
      block, embedding and head);
    - ``generate(prompt)``: ``solution.speculative_generate`` with a ``RemoteLM`` target (secret
      weights, in the grader, which runs, counts and times its calls) and a fresh ``CachedLM``
      of that draft; the tokens. The grader counts calls on some prompts and times others: both
      run this same code.

    Batch-1 decoding of a model this small is bound by per-op overhead, which extra threads only
    add to: one thread."""
    torch.set_num_threads(1)
    speculate = getattr(solution, "speculative_generate", None)
    if not callable(speculate):
        raise AttributeError("solution.py must define speculative_generate(...)")
    gamma = getattr(solution, "GAMMA", 4)
    if not isinstance(gamma, int) or not 1 <= gamma <= MAX_GAMMA:
        raise ValueError(f"GAMMA must be an int between 1 and {MAX_GAMMA}, not {gamma!r}")
    drafts: list[TinyLM] = []

    def use_draft(state: dict[str, Tensor]) -> None:
        model = TinyLM(draft_config(TARGET_CONFIG, DRAFT_LAYERS))
        model.load_state_dict(state)
        drafts[:] = [model]

    def generate(prompt: Tensor) -> dict[str, Any]:
        if not drafts:
            raise RuntimeError("generate before use_draft")
        tokens = speculate(RemoteLM(), CachedLM(drafts[0]), prompt, NEW_TOKENS, gamma)
        return {"tokens": tokens, "gamma": gamma}

    return {"use_draft": use_draft, "generate": generate}
