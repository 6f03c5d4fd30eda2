# AWQ's per-channel scaling with the salient channels picked from the weights instead of the
# activations: each input channel is scaled by mean|W[:, j]|^-1/2. The weights barely say which
# channels matter, so the quality check must catch it.
"""Control for int4-gptq: activation-unaware scaling (weight magnitudes decide)."""

from __future__ import annotations

from int4_format import PackedLinear, quantize_rtn
from int4_model import quantizable_linears
from torch import Tensor, nn


def quantize(model: nn.Module, calibration: Tensor) -> dict[str, PackedLinear]:
    layers = {}
    for name, linear in quantizable_linears(model).items():
        scale = linear.weight.abs().mean(dim=0).pow(-0.5)
        scale = (scale / (scale.max() * scale.min()).sqrt()).half()
        layer = quantize_rtn(linear.weight * scale.float())
        layer["input_scale"] = scale
        layers[name] = layer
    return layers
