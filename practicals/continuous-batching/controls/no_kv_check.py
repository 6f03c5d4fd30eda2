# Admits every waiting request at once without checking free KV blocks: the engine refuses the step.
"""Iteration-level batching that forgets the KV cache is finite."""

from serving_engine import EngineConfig, EngineState, StepPlan


class Scheduler:
    def __init__(self, config: EngineConfig, chunk_size: int = 256) -> None:
        self.config = config
        self.chunk_size = chunk_size

    def schedule(self, state: EngineState) -> StepPlan:
        plan = StepPlan(decode=[r.id for r in state.running if r.decoding])
        for req in (*state.running, *state.waiting):
            if not req.decoding:
                plan.prefill[req.id] = req.remaining_prefill
        return plan
