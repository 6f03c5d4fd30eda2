# Reads the wrong row of the sorted table: reports the runner-up stage and its share.
from torch.profiler import ProfilerActivity, profile

STAGES = ("preprocess", "embed", "encoder", "head", "postprocess")


def find_hotspot(pipeline, batches):
    for batch in batches[:2]:
        pipeline.step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[2:]:
            pipeline.step(batch)
    totals = {event.key: event.cpu_time_total for event in prof.key_averages()}
    shares = {s: 100 * totals.get(s, 0.0) / totals["pipeline.step"] for s in STAGES}
    ranked = sorted(shares, key=shares.get, reverse=True)
    return ranked[1], shares[ranked[1]]
