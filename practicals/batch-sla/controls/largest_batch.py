# Maximises throughput and ignores the SLA: always returns the largest batch size.


def choose_batch_size(run_batch, batch_sizes, sla_p99_s):
    return max(batch_sizes)
