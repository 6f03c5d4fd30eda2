"""TinyLM: a small decoder-only transformer LM with seeded weights, for the practicals.

Used by the int8, KV-cache and prefix-cache practicals (and any other that needs a language
model). Imported only inside the lab worker: it needs torch.

The weights are synthetic, drawn deterministically from ``config.seed``; nothing is trained or
downloaded. Each component draws from its own generator keyed by (seed, component name), so
two configs that differ only in ``n_layers`` share their embedding, norms, head and most of
their first layers' weights (see ``draft_config`` for building a draft model for speculative
decoding).

Shapes: tokens ``[B, T]`` (int64), hidden states ``[B, T, d_model]``, queries
``[B, n_heads, T, head_dim]``, keys and values ``[B, n_kv_heads, T, head_dim]`` (grouped-query
attention when ``n_kv_heads < n_heads``; the cache holds only the KV heads).

Incremental decoding is built from the pieces the full forward uses (read ``TinyLM.forward``):

    h = model.embed(tokens, start_pos)
    for block in model.blocks:
        q, k, v = block.attn.project_qkv(block.attn_norm(h), start_pos)
        # k, v: the new positions' keys/values; append them to the cache, then
        h = h + block.attn.output(attend(q, k_all, v_all))
        h = block.feed_forward(h)
    logits = model.logits(h)
"""

from __future__ import annotations

import dataclasses
import math
import types
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, cast

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass(frozen=True)
class TinyLMConfig:
    """Architecture and weight-generation knobs.

    Architecture: ``vocab_size``; ``d_model`` (hidden width); ``n_layers``; ``n_heads`` query
    heads of ``head_dim = d_model // n_heads``; ``n_kv_heads`` key/value heads (fewer than
    ``n_heads``: grouped-query attention); ``ffn_dim`` (MLP width, ``mlp`` SwiGLU or GELU);
    ``max_seq_len``; ``positions`` RoPE (``rope_theta``) or learned; ``tie_embeddings`` (head =
    embedding); ``qk_norm`` (RMSNorm of each head's queries and keys, gain ``qk_gain``).

    Weights (all drawn from ``seed``): ``block_scale`` sets how much each residual branch adds
    relative to the token embedding (smaller: more confident, more stable argmax);
    ``logit_scale`` the spread of the logits; ``bigram_strength`` (0..1) blends each head row
    with the embedding of a fixed "successor" token, a bigram prior that makes many predictions
    confident, as in a trained LM. ``head_scale_spread`` (needs ``qk_norm``) gives each head's
    query/key weights its own scale, spread log-uniformly over that many decades, as trained
    models with QK-norm end up with: the norm removes the scale (heads scaled below about
    sqrt(norm_eps) keep part of it), but one per-tensor quantization scale crushes the small heads.
    """

    vocab_size: int = 256
    d_model: int = 256
    n_layers: int = 4
    n_heads: int = 8
    n_kv_heads: int = 2
    ffn_dim: int = 768
    max_seq_len: int = 1024
    positions: Literal["rope", "learned"] = "rope"
    tie_embeddings: bool = False
    qk_norm: bool = True
    qk_gain: float = 1.5
    head_scale_spread: float = 0.0
    block_scale: float = 0.5
    bigram_strength: float = 0.0
    logit_scale: float = 4.0
    mlp: Literal["swiglu", "gelu"] = "swiglu"
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    seed: int = 0

    def __post_init__(self) -> None:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model {self.d_model} is not a multiple of n_heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads {self.n_heads} is not a multiple of n_kv_heads")
        if self.positions == "rope" and self.head_dim % 2:
            raise ValueError("RoPE needs an even head_dim")
        if self.head_scale_spread and not self.qk_norm:
            raise ValueError("head_scale_spread changes the function unless qk_norm is on")
        if self.bigram_strength and self.tie_embeddings:
            raise ValueError("bigram_strength shapes the untied lm_head; tied embeddings have none")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def kv_bytes_per_token(self, dtype: torch.dtype = torch.float32) -> int:
        """K and V for one position across all layers: 2 * layers * kv_heads * head_dim * bytes."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * dtype.itemsize


def draft_config(target: TinyLMConfig, n_layers: int) -> TinyLMConfig:
    """The config of a draft for speculative decoding: the target's with fewer layers.

    ``TinyLM(draft_config(cfg, k))`` has the target's embedding, norms, head and first ``k``
    layers' weights, except the residual output projections (``o_proj``, ``down``), whose scale
    depends on the depth. For an exact truncation of the target, load its weights::

        draft = TinyLM(draft_config(cfg, k))
        draft.load_state_dict({n: w for n, w in target.state_dict().items() if n in draft.state_dict()})
    """
    if not 0 < n_layers <= target.n_layers:
        raise ValueError(f"a draft needs 1..{target.n_layers} layers, not {n_layers}")
    return dataclasses.replace(target, n_layers=n_layers)


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class Rotary(nn.Module):
    """Rotary position embedding (rotate-half form) with precomputed tables."""

    cos: Tensor
    sin: Tensor

    def __init__(self, head_dim: int, max_seq_len: int, theta: float) -> None:
        super().__init__()
        inv_freq = theta ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
        angles = torch.outer(torch.arange(max_seq_len, dtype=torch.float64), inv_freq)
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: Tensor, start_pos: int) -> Tensor:
        """Rotate ``x`` ``[B, H, T, head_dim]`` whose first position is ``start_pos``."""
        t = x.shape[-2]
        cos = self.cos[start_pos : start_pos + t]
        sin = self.sin[start_pos : start_pos + t]
        x1, x2 = x.chunk(2, dim=-1)
        return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def attend(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Causal grouped-query attention of ``q`` ``[B, H, Tq, hd]`` over ``k``/``v``
    ``[B, KV, Tk, hd]`` (``Tk >= Tq``; the queries are the last ``Tq`` of the ``Tk`` positions).
    Returns ``[B, H, Tq, hd]``."""
    tq, tk = q.shape[-2], k.shape[-2]
    if tk < tq:
        raise ValueError(f"{tq} queries but only {tk} keys")
    if tq == tk:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
    if tq == 1:
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    offset = tk - tq
    allowed = torch.arange(tk, device=q.device)[None, :] <= (
        torch.arange(tq, device=q.device)[:, None] + offset
    )
    return F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, enable_gqa=True)


class Attention(nn.Module):
    def __init__(self, cfg: TinyLMConfig, rotary: Rotary | None) -> None:
        super().__init__()
        self.n_heads = cfg.n_heads
        self.n_kv_heads = cfg.n_kv_heads
        self.head_dim = cfg.head_dim
        hd = cfg.head_dim
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_heads * hd, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * hd, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * hd, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * hd, cfg.d_model, bias=False)
        self.q_norm = RMSNorm(hd, cfg.norm_eps) if cfg.qk_norm else None
        self.k_norm = RMSNorm(hd, cfg.norm_eps) if cfg.qk_norm else None
        self.rotary = rotary

    def project_qkv(self, x: Tensor, start_pos: int = 0) -> tuple[Tensor, Tensor, Tensor]:
        """Queries ``[B, H, T, hd]``, keys and values ``[B, KV, T, hd]`` for the normalized hidden
        states ``x`` ``[B, T, d]`` of positions ``start_pos .. start_pos + T - 1``."""
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if self.q_norm is not None and self.k_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.rotary is not None:
            q, k = self.rotary(q, start_pos), self.rotary(k, start_pos)
        return q, k, v

    def output(self, o: Tensor) -> Tensor:
        """The attention output ``[B, H, T, hd]`` projected back to ``[B, T, d]``."""
        b, _, t, _ = o.shape
        return self.o_proj(o.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim))


class MLP(nn.Module):
    """SwiGLU (``down(silu(gate(x)) * up(x))``) or GELU (``down(gelu(up(x)))``) feed-forward."""

    def __init__(self, cfg: TinyLMConfig) -> None:
        super().__init__()
        self.gate = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False) if cfg.mlp == "swiglu" else None
        self.up = nn.Linear(cfg.d_model, cfg.ffn_dim, bias=False)
        self.down = nn.Linear(cfg.ffn_dim, cfg.d_model, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        if self.gate is None:
            return self.down(F.gelu(self.up(x)))
        return self.down(F.silu(self.gate(x)) * self.up(x))


class Block(nn.Module):
    def __init__(self, cfg: TinyLMConfig, rotary: Rotary | None) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.attn = Attention(cfg, rotary)
        self.mlp_norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg)

    def feed_forward(self, h: Tensor) -> Tensor:
        """The block's second half: ``h + mlp(mlp_norm(h))``."""
        return h + self.mlp(self.mlp_norm(h))


class TinyLM(nn.Module):
    """The model. ``TinyLM(config)`` builds it with its seeded weights (fp32, CPU)."""

    blocks: Sequence[Block]  # an nn.ModuleList at run time

    def __init__(self, config: TinyLMConfig | None = None) -> None:
        super().__init__()
        cfg = config or TinyLMConfig()
        self.config = cfg
        # nn.Linear's default init draws from the global RNG; the seeded init replaces it, and
        # the caller's random stream is left as it was.
        with torch.random.fork_rng(devices=[]):
            self._build(cfg)
        _init_weights(self)
        self.requires_grad_(False)
        self.eval()

    def _build(self, cfg: TinyLMConfig) -> None:
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.embed_positions = (
            nn.Embedding(cfg.max_seq_len, cfg.d_model) if cfg.positions == "learned" else None
        )
        # One rotary table shared by every layer.
        rotary = (
            Rotary(cfg.head_dim, cfg.max_seq_len, cfg.rope_theta)
            if cfg.positions == "rope"
            else None
        )
        self.blocks = cast(
            "Sequence[Block]", nn.ModuleList(Block(cfg, rotary) for _ in range(cfg.n_layers))
        )
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = (
            None if cfg.tie_embeddings else nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        )

    def embed(self, tokens: Tensor, start_pos: int = 0) -> Tensor:
        """Hidden states ``[B, T, d]`` for ``tokens`` ``[B, T]`` at positions from ``start_pos``."""
        end = start_pos + tokens.shape[-1]
        if end > self.config.max_seq_len:
            raise ValueError(f"position {end - 1} is past max_seq_len {self.config.max_seq_len}")
        h = self.embed_tokens(tokens)
        if self.embed_positions is not None:
            h = h + self.embed_positions.weight[start_pos:end]
        return h

    def logits(self, h: Tensor) -> Tensor:
        """Next-token logits ``[B, T, vocab]`` from final hidden states ``[B, T, d]``."""
        x = self.norm(h)
        if self.lm_head is None:
            return (
                x
                @ self.embed_tokens.weight.t()
                * (self.config.logit_scale / math.sqrt(x.shape[-1]))
            )
        return self.lm_head(x)

    def forward(self, tokens: Tensor) -> Tensor:
        """Full recompute: logits ``[B, T, vocab]`` for every position of ``tokens`` ``[B, T]``."""
        h = self.embed(tokens)
        for block in self.blocks:
            q, k, v = block.attn.project_qkv(block.attn_norm(h))
            h = h + block.attn.output(attend(q, k, v))
            h = block.feed_forward(h)
        return self.logits(h)


@torch.inference_mode()
def generate_full_recompute(model: TinyLM, prompt: Tensor, max_new_tokens: int) -> Tensor:
    """Greedy decoding without a cache: every step re-runs the whole sequence. ``prompt`` is
    ``[T]`` or ``[1, T]``; returns the ``max_new_tokens`` new tokens ``[max_new_tokens]``."""
    seq = prompt.reshape(1, -1)
    for _ in range(max_new_tokens):
        next_token = model(seq)[:, -1].argmax(-1, keepdim=True)
        seq = torch.cat((seq, next_token), dim=1)
    return seq[0, prompt.numel() :]


@torch.inference_mode()
def greedy_mismatch(
    model: TinyLM, prompt: Tensor, tokens: Tensor, margin: float, reference: str
) -> str | None:
    """What makes ``tokens`` not ``model``'s greedy continuation of ``prompt``, or None.

    Each token is checked against the logits for its own prefix (one full forward). A token
    whose logit is within ``margin`` of the top one counts as greedy: the same sequence run in
    other shapes (cached, paged, a draft verified in one call) rounds differently, so either
    token of such a near-tie is a correct greedy choice, and what follows is checked from it."""
    if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
        return f"token ids must be integers, not {tokens.dtype}"
    vocab = model.config.vocab_size
    if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab):
        return f"token ids must lie in 0..{vocab - 1}"
    ids = tokens.reshape(-1).to(torch.long)
    sequence = torch.cat((prompt.reshape(-1).to(torch.long), ids)).reshape(1, -1)
    logits = model(sequence)[0, prompt.numel() - 1 : -1]
    best = logits.max(-1)
    chosen = logits.gather(1, ids.reshape(-1, 1)).reshape(-1)
    wrong = (chosen < best.values - margin).nonzero()
    if wrong.numel() == 0:
        return None
    i = int(wrong[0, 0])
    return f"new token {i} is {int(ids[i])}, {reference} gives {int(best.indices[i])}"


def random_prompt(config: TinyLMConfig, length: int, seed: int) -> Tensor:
    """A seeded prompt ``[length]`` of token ids."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(config.vocab_size, (length,), generator=gen)


def tensor_bytes(obj: Any, *, exclude: Any = None) -> int:
    """Bytes of every distinct tensor storage reachable from ``obj`` through module trees,
    containers, object attributes and TorchScript objects (e.g. packed int8 weights), minus those
    reachable from ``exclude``. Views of one storage count once; quantized tensors count their
    int8 storage."""
    excluded = {key for key, _ in _storages(exclude)} if exclude is not None else set()
    return sum(n for key, n in _storages(obj) if key not in excluded)


def _storages(root: Any) -> Iterator[tuple[tuple[int, int], int]]:
    seen_objects: set[int] = set()
    seen_storages: set[tuple[int, int]] = set()
    # Unpacked TorchScript state is temporary: keep every visited object alive until the walk
    # ends so that neither an id nor a storage address is reused by a later temporary.
    keep_alive: list[Any] = []
    stack = [root]
    while stack:
        obj = stack.pop()
        if id(obj) in seen_objects or isinstance(obj, (str, bytes, int, float, bool, type(None))):
            continue
        seen_objects.add(id(obj))
        keep_alive.append(obj)
        if isinstance(obj, Tensor):
            storage = obj.untyped_storage()
            key = (storage.data_ptr(), storage.nbytes())
            if key not in seen_storages:
                seen_storages.add(key)
                yield key, storage.nbytes()
        elif isinstance(obj, torch.ScriptObject):
            if "__getstate__" in obj._method_names():  # type: ignore[attr-defined]
                stack.append(obj.__getstate__())
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, _NOT_FOLLOWED):
            continue
        elif hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
        elif hasattr(obj, "__slots__"):
            stack.extend(getattr(obj, s) for s in obj.__slots__ if hasattr(obj, s))


# Classes, functions and modules are not followed: their globals reach everything.
_NOT_FOLLOWED = (
    type,
    types.FunctionType,
    types.MethodType,
    types.ModuleType,
    types.BuiltinFunctionType,
)


def _component_generator(seed: int, name: str) -> torch.Generator:
    return torch.Generator().manual_seed(zlib.crc32(f"{seed}:{name}".encode()))


def _init_weights(model: TinyLM) -> None:
    cfg = model.config
    branch_std = cfg.block_scale / math.sqrt(2 * max(cfg.n_layers, 1))
    with torch.no_grad():
        for name, param in model.named_parameters():
            gen = _component_generator(cfg.seed, name)
            if name.endswith("norm.weight"):
                gain = cfg.qk_gain if name.endswith(("q_norm.weight", "k_norm.weight")) else 1.0
                param.fill_(gain)
            elif name.startswith("embed_tokens"):
                param.normal_(0.0, 1.0, generator=gen)
            elif name.startswith("embed_positions"):
                param.normal_(0.0, 0.5, generator=gen)
            elif name == "lm_head.weight":
                _init_head(param, model.embed_tokens.weight, cfg, gen)
            elif name.endswith(("o_proj.weight", "down.weight")):
                param.normal_(0.0, branch_std / math.sqrt(param.shape[1]), generator=gen)
            else:
                param.normal_(0.0, 1.0 / math.sqrt(param.shape[1]), generator=gen)
                if name.endswith(("q_proj.weight", "k_proj.weight")) and cfg.head_scale_spread:
                    _spread_head_scales(param, cfg.head_dim, cfg.head_scale_spread, gen)


def _init_head(weight: Tensor, embedding: Tensor, cfg: TinyLMConfig, gen: torch.Generator) -> None:
    """Random rows, optionally blended with token embeddings: row ``v`` leans towards the
    embedding of token ``source[v]`` (a fixed permutation), so ``v`` tends to follow
    ``source[v]``. This bigram prior makes many predictions confident (large top-1 margins)."""
    weight.normal_(0.0, 1.0, generator=gen)
    if cfg.bigram_strength:
        source = torch.randperm(cfg.vocab_size, generator=gen)
        mix = cfg.bigram_strength * embedding[source] + (1 - cfg.bigram_strength) * weight
        weight.copy_(mix / mix.std())
    weight.mul_(cfg.logit_scale / math.sqrt(cfg.d_model))


def _spread_head_scales(
    weight: Tensor, head_dim: int, decades: float, gen: torch.Generator
) -> None:
    heads = weight.shape[0] // head_dim
    exponents = -decades * torch.rand(heads, generator=gen)
    weight.mul_((10.0**exponents).repeat_interleave(head_dim)[:, None])
