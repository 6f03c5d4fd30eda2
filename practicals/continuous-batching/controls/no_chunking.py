# Continuous batching without chunked prefill: whole prompts stall every decode, so p99 TPOT blows the SLA.
"""The reference scheduler with chunk_size ignored (each prompt prefilled in one step)."""

from reference import Scheduler as Chunked
from serving_engine import EngineConfig


class Scheduler(Chunked):
    def __init__(self, config: EngineConfig, chunk_size: int = 256) -> None:
        super().__init__(config, chunk_size=config.max_output_tokens * 8)
