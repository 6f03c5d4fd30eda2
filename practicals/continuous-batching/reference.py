"""Continuous batching with chunked prefill over a paged KV cache (the model solution).

Every iteration: each decoding sequence gets its next token (preempting the most recently
admitted sequences when the KV cache cannot hold one more token for each); then up to
``chunk_size`` prompt tokens are prefilled, finishing started prefills first and then admitting
waiting requests oldest first while free blocks stay above a small watermark.
"""

from serving_engine import EngineConfig, EngineState, StepPlan


class Scheduler:
    def __init__(
        self,
        config: EngineConfig,
        chunk_size: int = 256,
        max_running: int = 256,
        watermark: float = 0.02,
    ) -> None:
        self.config = config
        self.chunk_size = chunk_size
        self.max_running = max_running
        self.reserve = int(watermark * config.num_blocks)

    def schedule(self, state: EngineState) -> StepPlan:
        cfg = self.config
        plan = StepPlan()
        free = state.free_blocks
        running = list(state.running)

        def growth(req):  # blocks one more decode token needs
            return cfg.blocks_for(req.kv_tokens + 1) - req.blocks

        need = sum(growth(r) for r in running if r.decoding)
        while need > free:  # make room: the newest sequence goes back to the queue
            victim = running.pop()
            plan.preempt.append(victim.id)
            free += victim.blocks
            if victim.decoding:
                need -= growth(victim)
        plan.decode = [r.id for r in running if r.decoding]
        free -= need

        budget = self.chunk_size
        for req in running:  # finish started prefills first
            if budget == 0:
                break
            if not req.decoding:
                take = self._fit(req, budget, free)
                if take:
                    plan.prefill[req.id] = take
                    budget -= take
                    free -= cfg.blocks_for(req.kv_tokens + take) - req.blocks
        admitted = len(running)
        for req in state.waiting:  # then admit, oldest first
            if budget == 0 or admitted >= self.max_running:
                break
            take = self._fit(req, budget, free - self.reserve)
            if not take:
                break
            plan.prefill[req.id] = take
            budget -= take
            free -= cfg.blocks_for(take)
            admitted += 1
        return plan

    def _fit(self, req, budget: int, free: int) -> int:
        """The largest chunk (<= budget) of this request's prefill that fits ``free`` blocks."""
        take = min(budget, req.remaining_prefill)
        spare = free * self.config.block_size + (
            req.blocks * self.config.block_size - req.kv_tokens
        )
        return max(0, min(take, spare))
