"""int8 post-training quantization: per-channel symmetric int8 weights and int8 activations
(quantized per row at run time) for every Linear layer, by whichever of torch's two int8 GEMMs is
faster on this CPU: ``torch._int_mm`` (int8 x int8 -> int32), or fbgemm's dynamic quantized
Linear (``torch._int_mm`` falls back to a slow loop without AVX-512 VNNI or AMX).

Not oneDNN's dynamic quantized Linear (``torch.backends.quantized.engine = "onednn"``): faster on
a CPU with AMX, but it keeps the int8 weight twice (as given, and packed), about 0.5x fp32."""

from __future__ import annotations

import statistics
import time
import warnings

import torch
from torch import Tensor, nn

from quiz.lab.tinylm import TinyLM


class Int8Linear(nn.Module):
    """W8A8 Linear: the weight quantized once, each input row quantized on the fly."""

    weight_t: Tensor
    weight_scale_over_127: Tensor
    bias: Tensor | None

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        weight = linear.weight.detach()
        # One scale per output channel, symmetric: the largest |w| of the row maps to 127.
        scale = weight.abs().amax(dim=1).clamp_min(1e-12) / 127
        q = torch.round(weight / scale[:, None]).clamp(-127, 127).to(torch.int8)
        self.register_buffer("weight_t", q.t())  # [in, out]: the layout _int_mm reads
        self.register_buffer("weight_scale_over_127", scale / 127)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        rows = x.reshape(-1, x.shape[-1])
        # The row's largest |x| maps to 127 (so rounding stays within [-127, 127]).
        row_max = rows.abs().amax(dim=1, keepdim=True).clamp_min_(1e-12)
        x_q = rows.mul(127 / row_max).round_().to(torch.int8)
        y = torch._int_mm(x_q, self.weight_t).float()
        y.mul_(row_max * self.weight_scale_over_127)  # x_scale[row] * w_scale[col]
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
    """Time the model's widest Linear layer (its MLP's, 4x wide) both ways (a timed batch has
    128 rows), interleaved over five rounds after a warm-up, and compare the medians. Where the
    two are within a few percent on the whole model (an AMX Xeon: 2.2-2.8x each) either will do;
    the choice matters where torch._int_mm is a slow loop, 25-50x slower than fp32."""
    linear = nn.Linear(width, 4 * width)
    x = torch.randn(rows, width)
    layers = [Int8Linear(linear), quantize_with_fbgemm(nn.Sequential(linear))]
    times: list[list[float]] = [[], []]
    with torch.inference_mode():
        for _ in range(6):
            for layer, samples in zip(layers, times, strict=True):
                start = time.perf_counter()
                layer(x)
                samples.append(time.perf_counter() - start)
    int_mm, fbgemm = (statistics.median(samples[1:]) for samples in times)
    return int_mm < fbgemm
