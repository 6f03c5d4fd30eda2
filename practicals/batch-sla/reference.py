"""Reference: sweep every batch size (several passes, p99 per pass, keep the best pass), then
return the highest-throughput batch size whose p99 meets the SLA, with the p99s measured."""

from __future__ import annotations

import statistics
import time


def percentile(samples, q):
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    for size in batch_sizes:  # warm-up: first calls pay allocation and cache misses
        for _ in range(3):
            run_batch(size)
    passes = {size: [] for size in batch_sizes}
    for _ in range(16):
        for size in batch_sizes:
            samples = []
            for _ in range(10):  # ten calls in a row always include the slow path
                start = time.perf_counter()
                run_batch(size)
                samples.append(time.perf_counter() - start)
            passes[size].append(samples)
    p99 = {size: min(percentile(s, 99) for s in runs) for size, runs in passes.items()}
    throughput = {
        size: size / statistics.median([x for s in runs for x in s])
        for size, runs in passes.items()
    }
    feasible = [size for size in batch_sizes if p99[size] <= sla_p99_s]
    if not feasible:
        return batch_sizes[0], p99
    return max(feasible, key=throughput.get), p99
