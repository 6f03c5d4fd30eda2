"""Tensor parallelism for the TinyLM: your solution.

The grader runs this file in 2 rank processes that share a ``torch.distributed`` process group
(already initialised: use ``torch.distributed`` directly; the grader relays and counts every
collective). On every rank it builds the unsplit model and calls ``shard_model(model, rank,
world_size)``; the model is dropped afterwards, so whatever your module keeps is what the rank
holds. Then every rank runs ``forward(tokens)`` on the same token
ids ``[batch, seq]`` and rank 0's logits ``[batch, seq, vocab]`` must equal the unsplit model's.

As written, every rank keeps and runs the whole model: correct, but no faster and no smaller.
"""

from __future__ import annotations

from torch import nn
from tp_model import TinyLM


def shard_model(model: TinyLM, rank: int, world_size: int) -> nn.Module:
    return model
