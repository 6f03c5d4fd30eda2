"""Measure this GPU's roofline. ``measure(device)`` returns copy bandwidth (B/s), bf16 matmul
throughput (FLOP/s), the ridge point (FLOP/B) and, for every op in roofline_logic.OPS, whether
it is "memory"- or "compute"-bound here. See README.md.

This version times a buffer that fits in L2 with a host clock and no synchronization, and
guesses every op is memory-bound.
"""

import time

import torch
from roofline_logic import OPS


def measure(device: torch.device) -> dict:
    source = torch.ones(1 << 20, device=device)
    target = torch.empty_like(source)
    start = time.perf_counter()
    target.copy_(source)
    copy_bandwidth = source.numel() * 4 / (time.perf_counter() - start)

    a = torch.randn(1024, 1024, device=device)
    start = time.perf_counter()
    a @ a
    matmul_flops = 2 * 1024**3 / (time.perf_counter() - start)
    return {
        "copy_bandwidth": copy_bandwidth,
        "matmul_flops": matmul_flops,
        "ridge_point": matmul_flops / copy_bandwidth,
        "classes": {op.name: "memory" for op in OPS},
    }
