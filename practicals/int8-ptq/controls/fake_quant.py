# Fake quantization: stores int8 weights but dequantizes them to fp32 on every call and runs an fp32 matmul, so nothing gets faster.
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class FakeInt8Linear(nn.Module):
    weight_q: Tensor
    weight_scale: Tensor

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach()
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127
        self.register_buffer("weight_q", torch.round(weight / scale[:, None]).to(torch.int8))
        self.register_buffer("weight_scale", scale)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight_q.float() * self.weight_scale[:, None])


def quantize(model: nn.Module) -> nn.Module:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, FakeInt8Linear(child))
    return model
