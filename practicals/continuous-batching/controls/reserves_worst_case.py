# Continuous batching with chunked prefill that admits a request only when its worst case (prompt
# + max output tokens) fits in what running requests have not reserved: it never needs to
# preempt and meets the SLA on most traces, but fits far fewer sequences in the KV cache than
# allocating blocks as tokens arrive does (what paged KV is for).
from serving_engine import ReservingBatching as Scheduler

__all__ = ["Scheduler"]
