# Cheating: rank 0 keeps the whole model and runs it on two threads while the other ranks do nothing. Correct logits and a real speed-up, but rank 0 holds every weight.
from __future__ import annotations

import torch
from torch import Tensor, nn
from tp_model import TinyLM


class Idle(nn.Module):
    def forward(self, tokens: Tensor) -> None:
        return None


def shard_model(model: TinyLM, rank: int, world_size: int) -> nn.Module:
    if rank != 0:
        return Idle()
    torch.set_num_threads(world_size)
    return model
