"""profile-hotspot: which stage dominates a steady-state step of the pipeline, and by how much?

Write find_hotspot(pipeline, batches) -> (stage, share_pct):
  * pipeline.step(batch) runs one step; each stage is a torch.profiler record_function range
    named after it ("preprocess", "embed", "encoder", "head", "postprocess"), and the whole
    step is the range "pipeline.step".
  * batches is a list of input batches you may use (at least 8).
  * stage is the stage that takes the largest share of a steady-state step; share_pct is its
    share of the step time in percent (0-100).

Each grade draws a new variant of the pipeline (its bug, and how much of a step the bug
takes), so compute the answer here with torch.profiler; `python profile_pipeline.py` profiles a
sample variant to explore. Then run `latency-quiz practical grade profile-hotspot`.
"""

from __future__ import annotations

from torch.profiler import ProfilerActivity, profile  # noqa: F401  (you will want these)


def find_hotspot(pipeline, batches):
    # TODO: profile pipeline.step(...) and read the stage ranges from the profiler.
    return "TODO", 0.0
