# Picks a random chunk size every step from an unseeded generator: two replays of one trace differ.
"""The reference scheduler with a jittery, unseeded chunk size."""

import random

from reference import Scheduler as Chunked
from serving_engine import EngineConfig, EngineState, StepPlan

_rng = random.Random()


class Scheduler(Chunked):
    def __init__(self, config: EngineConfig, chunk_size: int = 256) -> None:
        super().__init__(config, chunk_size=chunk_size)
        self.base = chunk_size

    def schedule(self, state: EngineState) -> StepPlan:
        self.chunk_size = _rng.randint(self.base // 2, self.base)
        return super().schedule(state)
