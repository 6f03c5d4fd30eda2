"""int8 post-training quantization: per-channel symmetric int8 weights, per-token int8
activations, and torch._int_mm (an int8 x int8 -> int32 GEMM) for every Linear layer."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from quiz.lab.tinylm import TinyLM


class Int8Linear(nn.Module):
    """W8A8 Linear: the weight quantized once, each input row quantized on the fly."""

    weight_t: Tensor
    weight_scale: Tensor
    bias: Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach()
        # One scale per output channel, symmetric: the largest |w| of the row maps to 127.
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127
        q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("weight_t", q.t())  # [in, out]: the layout _int_mm reads
        self.register_buffer("weight_scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, x.shape[-1])
        x_scale = rows.abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127
        x_q = torch.round(rows / x_scale).clamp_(-127, 127).to(torch.int8)
        y = torch._int_mm(x_q, self.weight_t).float().mul_(x_scale).mul_(self.weight_scale)
        if self.bias is not None:
            y += self.bias
        return y.view(*x.shape[:-1], -1)


def quantize(model: TinyLM) -> nn.Module:
    """Replace every nn.Linear of ``model`` (in place) with an Int8Linear; return the model."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
    return model
