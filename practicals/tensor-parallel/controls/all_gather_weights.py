# Each rank takes its shard, then all-gathers the other ranks' shards back into full weights and runs the unsplit model. Correct, but no memory saving and no speed-up.
from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from tp_model import TinyLM


def shard_model(model: TinyLM, rank: int, world_size: int) -> nn.Module:
    for block in model.blocks:
        for linear in (*_attention_linears(block), *_mlp_linears(block)):
            shard = linear.weight.chunk(world_size, dim=0)[rank].clone()
            gathered = [torch.empty_like(shard) for _ in range(world_size)]
            dist.all_gather(gathered, shard)
            linear.weight = nn.Parameter(torch.cat(gathered), requires_grad=False)
    return model


def _attention_linears(block: nn.Module) -> tuple[nn.Linear, ...]:
    attn = block.attn
    return attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj


def _mlp_linears(block: nn.Module) -> tuple[nn.Linear, ...]:
    return block.mlp.gate, block.mlp.up, block.mlp.down
