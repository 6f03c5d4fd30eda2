"""Roofline measurement (the model solution): CUDA events around many repetitions of a
device-to-device copy of 1 GiB and of an 8192^3 bf16 matmul, medians, then the ridge point and
the classification of each op by its arithmetic intensity."""

import statistics

import torch
from roofline_logic import OPS, classify


def _median_seconds(fn, repeats: int = 20, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return statistics.median(times)


def measure(device: torch.device) -> dict:
    size = 1 << 30
    source = torch.ones(size // 2, dtype=torch.bfloat16, device=device)
    target = torch.empty_like(source)
    copy_bandwidth = 2 * size / _median_seconds(lambda: target.copy_(source))

    n = 8192
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    matmul_flops = 2 * n**3 / _median_seconds(lambda: a @ b)

    ridge = matmul_flops / copy_bandwidth
    return {
        "copy_bandwidth": copy_bandwidth,
        "matmul_flops": matmul_flops,
        "ridge_point": ridge,
        "classes": {op.name: classify(op.flops / op.bytes, ridge) for op in OPS},
    }
