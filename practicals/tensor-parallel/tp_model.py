"""The model of the tensor-parallel practical, and the sizes the grader uses.

A 2-layer ``TinyLM`` (``quiz.lab.tinylm``) wide enough that its matrix multiplies dominate a
forward pass: d_model 2048, 16 query heads and 4 KV heads of 128 (grouped-query attention), a
5632-wide SwiGLU MLP. About 99 % of its 365 MB of fp32 weights are in the attention and MLP
``nn.Linear`` layers, the part tensor parallelism splits; the embedding, the norms and the output
head (about 4 MB) stay whole on every rank.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor

from quiz.lab.tinylm import RMSNorm, Rotary, TinyLM, TinyLMConfig, attend

__all__ = [
    "CONFIG",
    "TIMED_SHAPE",
    "WORLD_SIZE",
    "RMSNorm",
    "Rotary",
    "TinyLM",
    "attend",
    "build_model",
    "random_tokens",
    "replicated_bytes",
    "sharded_bytes",
]

CONFIG = TinyLMConfig(
    vocab_size=256,
    d_model=2048,
    n_layers=2,
    n_heads=16,
    n_kv_heads=4,
    ffn_dim=5632,
    max_seq_len=256,
)
WORLD_SIZE = 2
TIMED_SHAPE = (1, 64)  # [batch, tokens] of a timed forward pass
FP32_BYTES = 4


def build_model(seed: int = 0) -> TinyLM:
    """The unsplit model with the weights drawn from ``seed`` (fp32, CPU, inference mode)."""
    return TinyLM(dataclasses.replace(CONFIG, seed=seed))


def random_tokens(seed: int, batch: int, length: int) -> Tensor:
    """Token ids ``[batch, length]`` drawn from ``seed``."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(CONFIG.vocab_size, (batch, length), generator=gen)


def sharded_bytes(cfg: TinyLMConfig = CONFIG) -> int:
    """fp32 bytes of the attention and MLP projections: what tensor parallelism splits."""
    d, hd = cfg.d_model, cfg.head_dim
    attention = 2 * d * cfg.n_heads * hd + 2 * d * cfg.n_kv_heads * hd  # q, o; k, v
    mlp = (3 if cfg.mlp == "swiglu" else 2) * d * cfg.ffn_dim
    return cfg.n_layers * (attention + mlp) * FP32_BYTES


def replicated_bytes(cfg: TinyLMConfig = CONFIG) -> int:
    """fp32 bytes every rank keeps whole: embedding, output head, norms."""
    embedding = cfg.vocab_size * cfg.d_model * (1 if cfg.tie_embeddings else 2)
    norms = cfg.d_model * (2 * cfg.n_layers + 1)
    qk_norms = cfg.n_layers * 2 * cfg.head_dim if cfg.qk_norm else 0
    return (embedding + norms + qk_norms) * FP32_BYTES
