"""4-bit group-wise weight quantization of a small transformer LM (practical int4-gptq).

Write ``quantize(model, calibration)``: return, for every Linear layer in
``quantizable_linears(model)``, its weight packed in the 4-bit format of ``int4_format.py``
(codes, fp16 scales and zero points per group of at most 128 columns). ``calibration`` is
``[sequences, tokens]`` token ids of text sampled from the model. ``python solution.py`` prints
a quick local estimate; the grader is the judge.

This starter is plain round-to-nearest: it ignores the calibration data, and the grader
compares you against exactly this.
"""

from __future__ import annotations

from int4_format import PackedLinear, quantize_rtn
from int4_model import quantizable_linears
from torch import Tensor, nn


def quantize(model: nn.Module, calibration: Tensor) -> dict[str, PackedLinear]:
    """Packed 4-bit layers by name, for every Linear in ``quantizable_linears(model)``."""
    # TODO: use the calibration activations (GPTQ's error compensation or AWQ's scaling).
    return {
        name: quantize_rtn(linear.weight) for name, linear in quantizable_linears(model).items()
    }


if __name__ == "__main__":
    from int4_model import local_estimate

    local_estimate(quantize)
