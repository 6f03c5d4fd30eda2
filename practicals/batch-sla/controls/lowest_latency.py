# Optimises latency only: picks the batch size with the lowest p99, which leaves most of the throughput unused.
import time


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    worst = {}
    for size in batch_sizes:
        samples = []
        for _ in range(20):
            start = time.perf_counter()
            run_batch(size)
            samples.append(time.perf_counter() - start)
        worst[size] = max(samples)
    return min(batch_sizes, key=worst.get), worst
