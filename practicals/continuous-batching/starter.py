"""Your scheduler. The engine calls ``schedule(state)`` once per iteration; see README.md.

This version serves one request at a time: correct, but nowhere near the throughput or the
SLA. Make it batch at the iteration level, respect the KV budget, and chunk long prefills.
"""

from serving_engine import EngineConfig, EngineState, StepPlan


class Scheduler:
    def __init__(self, config: EngineConfig, chunk_size: int = 256) -> None:
        self.config = config
        self.chunk_size = chunk_size

    def schedule(self, state: EngineState) -> StepPlan:
        if state.running:
            req = state.running[0]
        elif state.waiting:
            req = state.waiting[0]
        else:
            return StepPlan()
        if req.decoding:
            return StepPlan(decode=[req.id])
        return StepPlan(prefill={req.id: min(self.chunk_size, req.remaining_prefill)})
