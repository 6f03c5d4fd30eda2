# free() forgets the sequence but never returns its blocks to the free list: every finished
# sequence leaks its blocks, and a long-running server runs out of memory it is not using.
from __future__ import annotations

from paged_model import KVPool


class BlockManager:
    def __init__(self, pool: KVPool) -> None:
        self.pool = pool
        self.block_size = pool.block_size
        self.free_blocks = list(range(pool.num_blocks - 1, -1, -1))
        self.ref_counts = [0] * pool.num_blocks
        self.tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}

    def allocate(self, seq_id: int, n_tokens: int) -> bool:
        needed = -(-n_tokens // self.block_size)
        if needed > len(self.free_blocks):
            return False
        self.tables[seq_id] = [self._take() for _ in range(needed)]
        self.lengths[seq_id] = n_tokens
        return True

    def append_slot(self, seq_id: int) -> bool:
        table, length = self.tables[seq_id], self.lengths[seq_id]
        if length % self.block_size == 0:
            if not self.free_blocks:
                return False
            table.append(self._take())
        elif self.ref_counts[table[-1]] > 1:
            if not self.free_blocks:
                return False
            shared, copy = table[-1], self._take()
            self.pool.keys[copy] = self.pool.keys[shared]
            self.pool.values[copy] = self.pool.values[shared]
            self.ref_counts[shared] -= 1
            table[-1] = copy
        self.lengths[seq_id] = length + 1
        return True

    def fork(self, parent_id: int, child_id: int) -> None:
        for block in self.tables[parent_id]:
            self.ref_counts[block] += 1
        self.tables[child_id] = list(self.tables[parent_id])
        self.lengths[child_id] = self.lengths[parent_id]

    def free(self, seq_id: int) -> None:
        del self.tables[seq_id], self.lengths[seq_id]

    def block_table(self, seq_id: int) -> list[int]:
        return self.tables[seq_id]

    def _take(self) -> int:
        block = self.free_blocks.pop()
        self.ref_counts[block] = 1
        return block
