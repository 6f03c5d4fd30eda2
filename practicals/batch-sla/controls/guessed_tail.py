# Calls every batch size twelve times in a row (so each takes its slow path) but then guesses each p99 as four times the median call instead of measuring it.
import statistics
import time


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    p99_s, throughput = {}, {}
    for size in batch_sizes:
        samples = []
        for _ in range(12):
            start = time.perf_counter()
            run_batch(size)
            samples.append(time.perf_counter() - start)
        median = statistics.median(samples)
        p99_s[size] = 4 * median
        throughput[size] = size / median
    feasible = [size for size in batch_sizes if p99_s[size] <= sla_p99_s] or batch_sizes[:1]
    return max(feasible, key=throughput.get), p99_s
