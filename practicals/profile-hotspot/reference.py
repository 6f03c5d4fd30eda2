"""Reference: warm up, profile several steady-state steps, and read the stage ranges of each
step, leaving out a step that another process on the machine got in the way of."""

from __future__ import annotations

import statistics

from torch.profiler import ProfilerActivity, profile

STAGES = ("preprocess", "embed", "encoder", "head", "postprocess")
STEP = "pipeline.step"


def find_hotspot(pipeline, batches):
    # The first step pays one-time costs (lazy initialisation); steady state starts after it.
    for batch in batches[:2]:
        pipeline.step(batch)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for batch in batches[2:]:
            pipeline.step(batch)
    # A record_function range's cpu_time_total includes everything run inside it.
    ranges = [e for e in prof.events() if e.name in STAGES or e.name == STEP]
    steps = []
    for step in (e for e in ranges if e.name == STEP):
        start, end = step.time_range.start, step.time_range.end
        inside = {e.name: e.cpu_time_total for e in ranges if start < e.time_range.start < end}
        steps.append((step.cpu_time_total, inside))
    typical = statistics.median(total for total, _ in steps)
    kept = [(total, inside) for total, inside in steps if total <= 1.5 * typical]
    step_time = sum(total for total, _ in kept)
    shares = {s: 100 * sum(inside.get(s, 0.0) for _, inside in kept) / step_time for s in STAGES}
    stage = max(shares, key=shares.get)
    return stage, shares[stage]
