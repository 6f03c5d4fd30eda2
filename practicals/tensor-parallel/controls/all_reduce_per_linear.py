# Every linear is row-parallel (each rank multiplies its slice of the input features and the partial products are all-reduced). Correct, and each rank holds half the weights, but it all-reduces after all seven linears of a layer instead of two per layer.
from __future__ import annotations

import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from tp_model import TinyLM, attend


def shard_model(model: TinyLM, rank: int, world_size: int) -> nn.Module:
    return RowParallelLM(model, rank, world_size)


class RowParallelLinear(nn.Module):
    def __init__(self, linear: nn.Linear, rank: int, world_size: int) -> None:
        super().__init__()
        self.weight = linear.weight.chunk(world_size, dim=1)[rank].contiguous()
        self.start = rank * self.weight.shape[1]

    def forward(self, x: Tensor) -> Tensor:
        partial = F.linear(x[..., self.start : self.start + self.weight.shape[1]], self.weight)
        dist.all_reduce(partial)
        return partial


class RowParallelBlock(nn.Module):
    def __init__(self, block: nn.Module, rank: int, world_size: int) -> None:
        super().__init__()
        attn = block.attn
        self.attn_norm, self.mlp_norm = block.attn_norm, block.mlp_norm
        self.q_norm, self.k_norm, self.rotary = attn.q_norm, attn.k_norm, attn.rotary
        self.n_heads, self.n_kv_heads, self.head_dim = attn.n_heads, attn.n_kv_heads, attn.head_dim
        names = ("q_proj", "k_proj", "v_proj", "o_proj")
        self.attn = nn.ModuleDict(
            {n: RowParallelLinear(getattr(attn, n), rank, world_size) for n in names}
        )
        names = ("gate", "up", "down")
        self.mlp = nn.ModuleDict(
            {n: RowParallelLinear(getattr(block.mlp, n), rank, world_size) for n in names}
        )

    def forward(self, h: Tensor) -> Tensor:
        x = self.attn_norm(h)
        b, t, _ = x.shape
        q = self.attn["q_proj"](x).view(b, t, self.n_heads, self.head_dim).transpose(1, 2)
        k = self.attn["k_proj"](x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.attn["v_proj"](x).view(b, t, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = self.rotary(self.q_norm(q), 0), self.rotary(self.k_norm(k), 0)
        o = attend(q, k, v).transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)
        h = h + self.attn["o_proj"](o)
        x = self.mlp_norm(h)
        return h + self.mlp["down"](F.silu(self.mlp["gate"](x)) * self.mlp["up"](x))


class RowParallelLM(nn.Module):
    def __init__(self, model: TinyLM, rank: int, world_size: int) -> None:
        super().__init__()
        self.embed_tokens, self.norm, self.lm_head = model.embed_tokens, model.norm, model.lm_head
        self.blocks = nn.ModuleList(RowParallelBlock(b, rank, world_size) for b in model.blocks)

    def forward(self, tokens: Tensor) -> Tensor:
        h = self.embed_tokens(tokens)
        for block in self.blocks:
            h = block(h)
        return self.lm_head(self.norm(h))
