# A cheat on the communication count (red-teamed: it passed): Megatron's split, plus 6 extra
# all-reduces per forward pass once the first 6 passes (the logits check and the counted ones)
# are over, when only the timing is left.
from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from tp_model import TinyLM, attend

_CALLS = [0]


class _PhaseSwitch(nn.Module):
    # Megatron while the grader counts (3 checked shapes + 3 counted passes), then 6 extra
    # collectives per pass (weight-sized traffic would go here) once only timing is left.
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, tokens: Tensor) -> Tensor:
        _CALLS[0] += 1
        if _CALLS[0] > 6:
            junk = torch.zeros(1)
            for _ in range(6):
                dist.all_reduce(junk)
        return self.inner(tokens)


def shard_model(model: TinyLM, rank: int, world_size: int) -> nn.Module:
    return _PhaseSwitch(ParallelLM(model, rank, world_size))


def _rows(weight: Tensor, rank: int, world_size: int) -> Tensor:
    """This rank's block of output features (a column-parallel linear's shard), copied: a
    slice is a view that would keep the whole matrix alive."""
    return weight.chunk(world_size, dim=0)[rank].clone()


def _columns(weight: Tensor, rank: int, world_size: int) -> Tensor:
    """This rank's block of input features (a row-parallel linear's shard), copied."""
    return weight.chunk(world_size, dim=1)[rank].contiguous()


class ParallelAttention(nn.Module):
    """Heads ``rank * H/p .. (rank+1) * H/p`` and their KV heads: q/k/v column-parallel,
    o_proj row-parallel, one all-reduce of the block's output."""

    def __init__(self, attn: nn.Module, rank: int, world_size: int) -> None:
        super().__init__()
        self.n_heads = attn.n_heads // world_size
        self.n_kv_heads = attn.n_kv_heads // world_size
        self.head_dim = attn.head_dim
        self.q = _rows(attn.q_proj.weight, rank, world_size)
        self.k = _rows(attn.k_proj.weight, rank, world_size)
        self.v = _rows(attn.v_proj.weight, rank, world_size)
        self.o = _columns(attn.o_proj.weight, rank, world_size)
        self.q_norm, self.k_norm, self.rotary = attn.q_norm, attn.k_norm, attn.rotary

    def forward(self, x: Tensor) -> Tensor:
        b, t, _ = x.shape
        q = F.linear(x, self.q).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = F.linear(x, self.k).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = F.linear(x, self.v).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.q_norm(q), self.k_norm(k)
        q, k = self.rotary(q, 0), self.rotary(k, 0)
        o = attend(q, k, v).transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)
        partial = F.linear(o, self.o)
        dist.all_reduce(partial)
        return partial


class ParallelMLP(nn.Module):
    """gate/up column-parallel, down row-parallel: one all-reduce."""

    def __init__(self, mlp: nn.Module, rank: int, world_size: int) -> None:
        super().__init__()
        self.gate = _rows(mlp.gate.weight, rank, world_size)
        self.up = _rows(mlp.up.weight, rank, world_size)
        self.down = _columns(mlp.down.weight, rank, world_size)

    def forward(self, x: Tensor) -> Tensor:
        partial = F.linear(F.silu(F.linear(x, self.gate)) * F.linear(x, self.up), self.down)
        dist.all_reduce(partial)
        return partial


class ParallelBlock(nn.Module):
    def __init__(self, block: nn.Module, rank: int, world_size: int) -> None:
        super().__init__()
        self.attn_norm, self.mlp_norm = block.attn_norm, block.mlp_norm
        self.attn = ParallelAttention(block.attn, rank, world_size)
        self.mlp = ParallelMLP(block.mlp, rank, world_size)

    def forward(self, h: Tensor) -> Tensor:
        h = h + self.attn(self.attn_norm(h))
        return h + self.mlp(self.mlp_norm(h))


class ParallelLM(nn.Module):
    """Embedding, final norm and head whole on every rank; blocks split."""

    def __init__(self, model: TinyLM, rank: int, world_size: int) -> None:
        super().__init__()
        self.embed_tokens, self.norm, self.lm_head = model.embed_tokens, model.norm, model.lm_head
        self.blocks = nn.ModuleList(ParallelBlock(b, rank, world_size) for b in model.blocks)

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.embed_tokens(tokens)
        for block in self.blocks:
            h = block(h)
        return self.lm_head(self.norm(h))
