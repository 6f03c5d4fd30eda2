# Request-level (static) batching, the baseline itself: about 1x its throughput, and TTFT far past the SLA.
"""Static batching dressed up as a submission."""

from serving_engine import EngineConfig, StaticBatching


class Scheduler(StaticBatching):
    def __init__(self, config: EngineConfig, chunk_size: int = 256) -> None:
        super().__init__(config)
