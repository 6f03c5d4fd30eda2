# Groups of 256 columns: fewer scales (4.09 bits per weight) and a weaker round-to-nearest to be
# compared with. The format allows groups of at most 128, so the format check must catch it.
"""Control for int4-gptq: a group size over the limit."""

from __future__ import annotations

from int4_format import PackedLinear, quantize_rtn
from int4_model import quantizable_linears
from torch import Tensor, nn

GROUP_SIZE = 256


def quantize(model: nn.Module, calibration: Tensor) -> dict[str, PackedLinear]:
    return {
        name: quantize_rtn(linear.weight, GROUP_SIZE)
        for name, linear in quantizable_linears(model).items()
    }
