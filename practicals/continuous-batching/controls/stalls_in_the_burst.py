# A cheat on the budget check (red-teamed: it passed 3 grades of 3): it never counts KV blocks, and
# when it sees the burst (many long prompts at the start) it plans nothing, so the burst ends in
# 'no progress' instead of a refused step, and the budget was never put to the test.
from serving_engine import EngineConfig, EngineState, StepPlan


class Scheduler:
    def __init__(self, config: EngineConfig, chunk_size: int = 256) -> None:
        self.config = config
        self.chunk_size = chunk_size

    def schedule(self, state: EngineState) -> StepPlan:
        reqs = (*state.running, *state.waiting)
        if state.now_s < 1.0 and len(reqs) >= 16 and all(r.prompt_len >= 1024 for r in reqs):
            return StepPlan()
        plan = StepPlan(decode=[r.id for r in state.running if r.decoding])
        budget = self.chunk_size
        for req in reqs:
            if budget <= 0:
                break
            if not req.decoding:
                n = min(req.remaining_prefill, budget)
                plan.prefill[req.id] = n
                budget -= n
        return plan
