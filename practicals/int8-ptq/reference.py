"""int8 post-training quantization: per-channel symmetric int8 weights, per-token int8
activations, and torch._int_mm (an int8 x int8 -> int32 GEMM) for every Linear layer; on a CPU
where torch._int_mm is slower than fbgemm's int8 Linear (it falls back to a slow loop without
AVX-512 VNNI or AMX), fbgemm's, with the same per-channel weight scales."""

from __future__ import annotations

import time
import warnings

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
    """Every nn.Linear of ``model`` as int8, by the faster int8 GEMM on this CPU."""
    return quantize_with_int_mm(model) if _int_mm_is_faster() else quantize_with_fbgemm(model)


def quantize_with_int_mm(model: TinyLM) -> nn.Module:
    """Replace every nn.Linear of ``model`` (in place) with an Int8Linear; return the model."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
    return model


def quantize_with_fbgemm(model: nn.Module) -> nn.Module:
    """fbgemm's int8 Linear: per-channel weights, activations quantized per batch at run time."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantize_dynamic is deprecated, still present
        return torch.ao.quantization.quantize_dynamic(
            model,
            {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig},
            dtype=torch.qint8,
            inplace=True,
        )


def _int_mm_is_faster(rows: int = 128, width: int = 768) -> bool:
    """Time one of the model's square Linear layers both ways (a timed batch has 128 rows)."""
    linear = nn.Linear(width, width)
    x = torch.randn(rows, width)
    layers = [Int8Linear(linear), quantize_with_fbgemm(nn.Sequential(linear))]
    best = []
    with torch.inference_mode():
        for layer in layers:
            layer(x)
            times = []
            for _ in range(3):
                start = time.perf_counter()
                layer(x)
                times.append(time.perf_counter() - start)
            best.append(min(times))
    return best[0] < best[1]
