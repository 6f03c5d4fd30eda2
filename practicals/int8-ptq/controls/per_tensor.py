# Real int8 GEMMs, but one weight scale per tensor: the heads whose query/key weights are small round to almost nothing, and accuracy collapses.
from __future__ import annotations

import torch
from torch import Tensor, nn


class PerTensorInt8Linear(nn.Module):
    weight_t: Tensor

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach()
        self.scale = float(weight.abs().max()) / 127
        self.register_buffer("weight_t", torch.round(weight / self.scale).to(torch.int8).t())

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, x.shape[-1])
        x_scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
        x_q = torch.round(rows / x_scale).clamp_(-127, 127).to(torch.int8)
        y = torch._int_mm(x_q, self.weight_t).float().mul_(x_scale * self.scale)
        return y.view(*x.shape[:-1], -1)


def quantize(model: nn.Module) -> nn.Module:
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, PerTensorInt8Linear(child))
    return model
