# Never admits prompts over 2048 tokens (they "hurt the batch"): those requests never complete.
"""The reference scheduler, hiding long prompts from its admission loop."""

from dataclasses import replace

from reference import Scheduler as Chunked
from serving_engine import EngineConfig, EngineState, StepPlan


class Scheduler(Chunked):
    def __init__(self, config: EngineConfig, chunk_size: int = 256) -> None:
        super().__init__(config, chunk_size=chunk_size)

    def schedule(self, state: EngineState) -> StepPlan:
        short = tuple(r for r in state.waiting if r.prompt_len <= 2048)
        return super().schedule(replace(state, waiting=short))
