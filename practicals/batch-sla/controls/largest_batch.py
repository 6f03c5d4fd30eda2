# Measures every p99 as carefully as the reference, then ignores the SLA: always returns the largest batch size.
from reference import choose_batch_size as measure_and_choose


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    _, p99_s = measure_and_choose(run_batch, batch_sizes, sla_p99_s)
    return max(batch_sizes), p99_s
