# Dequantize-to-fp32 in disguise: group_size 1 with fp32 scales, so every weight is stored
# exactly as its own "scale" (code 1, zero 0). Perfect quality; the bits check must catch it.
"""Control for int4-gptq: stores the fp32 weights in the scales (44 bits per weight)."""

from __future__ import annotations

import torch
from int4_format import PackedLinear, pack_codes
from int4_model import quantizable_linears
from torch import Tensor, nn


def quantize(model: nn.Module, calibration: Tensor) -> dict[str, PackedLinear]:
    layers = {}
    for name, linear in quantizable_linears(model).items():
        weight = linear.weight.detach().float()
        layers[name] = {
            "qweight": pack_codes(torch.ones_like(weight, dtype=torch.uint8)),
            "scales": weight.clone(),
            "zeros": torch.zeros_like(weight, dtype=torch.uint8),
            "group_size": 1,
        }
    return layers
