"""The grader's baseline: a cache that reserves the maximum sequence length for every sequence
when it starts (what engines before paging did), on the same pool and forward pass."""

from __future__ import annotations

from paged_model import CONFIG, KVPool


class BlockManager:
    def __init__(self, pool: KVPool) -> None:
        self.reserved = -(-CONFIG.max_seq_len // pool.block_size)
        self.free_blocks = list(range(pool.num_blocks - 1, -1, -1))
        self.tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}

    def allocate(self, seq_id: int, n_tokens: int) -> bool:
        if self.reserved > len(self.free_blocks):
            return False
        self.tables[seq_id] = [self.free_blocks.pop() for _ in range(self.reserved)]
        self.lengths[seq_id] = n_tokens
        return True

    def append_slot(self, seq_id: int) -> bool:
        self.lengths[seq_id] += 1
        return True

    def fork(self, parent_id: int, child_id: int) -> None:
        raise NotImplementedError("the baseline serves the capacity trace only")

    def free(self, seq_id: int) -> None:
        self.free_blocks.extend(self.tables.pop(seq_id))
        del self.lengths[seq_id]

    def block_table(self, seq_id: int) -> list[int]:
        return self.tables[seq_id]
