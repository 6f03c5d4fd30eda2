"""batch-sla: which batch size gives the most throughput while p99 latency meets the SLA?

Write choose_batch_size(run_batch, batch_sizes, sla_p99_s) -> int:
  * run_batch(b) serves one batch of b requests and returns when they are done;
  * batch_sizes lists the sizes you may choose from (1, 4, 16, 64, 256);
  * sla_p99_s is the SLA: the p99 latency of a batch call, in seconds, must not exceed it.
Return the batch size with the highest throughput (requests per second) whose p99 latency
meets the SLA. See README.md for how the grader measures p99 and throughput.
"""

from __future__ import annotations

import time


def measure(run_batch, batch_size, calls):
    """Latency (seconds) of `calls` consecutive calls at one batch size."""
    latencies = []
    for _ in range(calls):
        start = time.perf_counter()
        run_batch(batch_size)
        latencies.append(time.perf_counter() - start)
    return latencies


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    # TODO: sweep the batch sizes, compute p99 latency and throughput for each, and pick the
    # best one that meets the SLA. Batch 1 always meets it, but it is rarely the answer.
    return batch_sizes[0]
