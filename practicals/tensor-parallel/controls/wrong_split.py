# Megatron's split, except that every rank takes the first KV heads instead of the ones its query heads attend to. Half the memory, two all-reduces per layer, wrong logits.
from __future__ import annotations

import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from tp_model import TinyLM, attend


def shard_model(model: TinyLM, rank: int, world_size: int) -> nn.Module:
    return SplitLM(model, rank, world_size)


def _rows(weight: Tensor, index: int, parts: int) -> Tensor:
    return weight.chunk(parts, dim=0)[index].clone()


class SplitBlock(nn.Module):
    def __init__(self, block: nn.Module, rank: int, world_size: int) -> None:
        super().__init__()
        attn, mlp = block.attn, block.mlp
        self.attn_norm, self.mlp_norm = block.attn_norm, block.mlp_norm
        self.q_norm, self.k_norm, self.rotary = attn.q_norm, attn.k_norm, attn.rotary
        self.n_heads, self.n_kv_heads = attn.n_heads // world_size, attn.n_kv_heads // world_size
        self.head_dim = attn.head_dim
        self.q = _rows(attn.q_proj.weight, rank, world_size)
        self.k = _rows(attn.k_proj.weight, 0, world_size)
        self.v = _rows(attn.v_proj.weight, 0, world_size)
        self.o = attn.o_proj.weight.chunk(world_size, dim=1)[rank].contiguous()
        self.gate, self.up = (
            _rows(mlp.gate.weight, rank, world_size),
            _rows(mlp.up.weight, rank, world_size),
        )
        self.down = mlp.down.weight.chunk(world_size, dim=1)[rank].contiguous()

    def forward(self, h: Tensor) -> Tensor:
        x = self.attn_norm(h)
        b, t, _ = x.shape
        q = F.linear(x, self.q).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = F.linear(x, self.k).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = F.linear(x, self.v).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.rotary(self.q_norm(q), 0), self.rotary(self.k_norm(k), 0)
        o = attend(q, k, v).transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)
        attn_out = F.linear(o, self.o)
        dist.all_reduce(attn_out)
        h = h + attn_out
        x = self.mlp_norm(h)
        mlp_out = F.linear(F.silu(F.linear(x, self.gate)) * F.linear(x, self.up), self.down)
        dist.all_reduce(mlp_out)
        return h + mlp_out


class SplitLM(nn.Module):
    def __init__(self, model: TinyLM, rank: int, world_size: int) -> None:
        super().__init__()
        self.embed_tokens, self.norm, self.lm_head = model.embed_tokens, model.norm, model.lm_head
        self.blocks = nn.ModuleList(SplitBlock(b, rank, world_size) for b in model.blocks)

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.embed_tokens(tokens)
        for block in self.blocks:
            h = block(h)
        return self.lm_head(self.norm(h))
