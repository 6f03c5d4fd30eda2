"""Reference: warm up, profile several steady-state steps, and read the stage ranges."""

from __future__ import annotations

from torch.profiler import ProfilerActivity, profile

STAGES = ("preprocess", "embed", "encoder", "head", "postprocess")


def find_hotspot(pipeline, batches):
    # The first step pays one-time costs (lazy initialisation); steady state starts after it.
    for batch in batches[:2]:
        pipeline.step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[2:]:
            pipeline.step(batch)
    # cpu_time_total of a record_function range includes everything run inside it.
    totals = {event.key: event.cpu_time_total for event in prof.key_averages()}
    step = totals["pipeline.step"]
    shares = {stage: 100 * totals.get(stage, 0.0) / step for stage in STAGES}
    stage = max(shares, key=shares.get)
    return stage, shares[stage]
