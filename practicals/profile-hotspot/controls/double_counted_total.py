# Divides by the sum of every event's total time, counting nested ops several times, so the share comes out far too small.
from torch.profiler import ProfilerActivity, profile

STAGES = ("preprocess", "embed", "encoder", "head", "postprocess")


def find_hotspot(pipeline, batches):
    for batch in batches[:2]:
        pipeline.step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[2:]:
            pipeline.step(batch)
    events = prof.key_averages()
    everything = sum(event.cpu_time_total for event in events)
    totals = {event.key: event.cpu_time_total for event in events}
    shares = {s: 100 * totals.get(s, 0.0) / everything for s in STAGES}
    stage = max(shares, key=shares.get)
    return stage, shares[stage]
