# Profiles only the first step of a fresh pipeline, so one-time initialisation is counted as if every step paid it.
from torch.profiler import ProfilerActivity, profile

STAGES = ("preprocess", "embed", "encoder", "head", "postprocess")


def find_hotspot(pipeline, batches):
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        pipeline.step(batches[0])
    totals = {event.key: event.cpu_time_total for event in prof.key_averages()}
    shares = {s: 100 * totals.get(s, 0.0) / totals["pipeline.step"] for s in STAGES}
    stage = max(shares, key=shares.get)
    return stage, shares[stage]
