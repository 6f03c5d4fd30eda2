# Forks share every block, but nothing is copied on write: the first branch to write into the
# shared, partly filled last block overwrites the other branch's keys and values there.
from __future__ import annotations

from paged_model import KVPool


class BlockManager:
    def __init__(self, pool: KVPool) -> None:
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
        if self.lengths[seq_id] % self.block_size == 0:
            if not self.free_blocks:
                return False
            self.tables[seq_id].append(self._take())
        self.lengths[seq_id] += 1
        return True

    def fork(self, parent_id: int, child_id: int) -> None:
        for block in self.tables[parent_id]:
            self.ref_counts[block] += 1
        self.tables[child_id] = list(self.tables[parent_id])
        self.lengths[child_id] = self.lengths[parent_id]

    def free(self, seq_id: int) -> None:
        for block in self.tables.pop(seq_id):
            self.ref_counts[block] -= 1
            if self.ref_counts[block] == 0:
                self.free_blocks.append(block)
        del self.lengths[seq_id]

    def block_table(self, seq_id: int) -> list[int]:
        return self.tables[seq_id]

    def _take(self) -> int:
        block = self.free_blocks.pop()
        self.ref_counts[block] = 1
        return block
