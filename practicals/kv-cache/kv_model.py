"""The decoder this practical caches, and the prompts it is graded on.

A one-block TinyLM (quiz.lab.tinylm) with synthetic weights from a fixed seed: d_model 256, 8
query heads and 2 KV heads of dimension 32 (grouped-query attention), RoPE positions, a SwiGLU
MLP and a 256-token vocabulary. Everything is fp32 on the CPU. One block keeps the grader's
full-recompute baseline (O(n^2) token-passes) affordable on a small CPU.
"""

from __future__ import annotations

from torch import Tensor

from quiz.lab.tinylm import TinyLM, TinyLMConfig, random_prompt

CONFIG = TinyLMConfig(
    vocab_size=256,
    d_model=256,
    n_layers=1,
    n_heads=8,
    n_kv_heads=2,
    ffn_dim=768,
    positions="rope",
    qk_norm=False,
    max_seq_len=512,
    seed=11,
)
TIMED_PROMPT_LEN = 16
TIMED_NEW_TOKENS = 256


def build_model() -> TinyLM:
    """The fp32 decoder (deterministic: the same weights on every call)."""
    return TinyLM(CONFIG)


def prompt(seed: int, length: int = TIMED_PROMPT_LEN) -> Tensor:
    """Random token ids ``[length]`` drawn from ``seed``."""
    return random_prompt(CONFIG, length, seed % 2**63)
