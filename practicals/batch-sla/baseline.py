"""The batch-sla grader's own measurement (trusted code): the referee runs it in a contestant
process of its own, the same kind of process yours runs in, so both measure the service under
the same conditions. The reference measures the same way.

A sweep runs ``passes`` passes; each pass calls every batch size ``calls`` times in a row. The
p99 of a batch size is its lowest per-pass p99: a pass disturbed by another process on the
machine says something about the machine, not about the service. Throughput is
``batch_size / median latency`` (between flushes) and, sustained, ``batch_size / mean latency``
(slow calls included).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

PASSES = 16
CALLS = 10
WARMUP_CALLS = 3


@dataclass(frozen=True)
class Point:
    batch_size: int
    p50_s: float
    p99_s: float
    throughput: float  # requests per second between flushes: batch_size / median latency
    sustained: float  # requests per second over every call, slow ones too: / mean latency


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), linear interpolation between order statistics."""
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def sweep(
    run_batch: Callable[[int], object],
    batch_sizes: Sequence[int],
    *,
    passes: int = PASSES,
    calls: int = CALLS,
) -> dict[int, Point]:
    for size in batch_sizes:
        for _ in range(WARMUP_CALLS):
            run_batch(size)
    latencies: dict[int, list[list[float]]] = {size: [] for size in batch_sizes}
    for _ in range(passes):
        for size in batch_sizes:
            samples = []
            for _ in range(calls):
                start = time.perf_counter()
                run_batch(size)
                samples.append(time.perf_counter() - start)
            latencies[size].append(samples)
    points = {}
    for size, per_pass in latencies.items():
        everything = [s for samples in per_pass for s in samples]
        p50 = statistics.median(everything)
        p99 = min(percentile(samples, 99) for samples in per_pass)
        points[size] = Point(size, p50, p99, size / p50, size / statistics.fmean(everything))
    return points
