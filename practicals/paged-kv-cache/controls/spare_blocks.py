# Allocates ahead: every sequence keeps two spare blocks beyond the one it is filling, so that
# appends rarely have to allocate. Correct tokens and forks, but each sequence wastes up to
# three blocks instead of less than one.
from __future__ import annotations

from paged_model import KVPool

SPARE = 2


class BlockManager:
    def __init__(self, pool: KVPool) -> None:
        self.pool = pool
        self.block_size = pool.block_size
        self.free_blocks = list(range(pool.num_blocks - 1, -1, -1))
        self.ref_counts = [0] * pool.num_blocks
        self.tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}

    def allocate(self, seq_id: int, n_tokens: int) -> bool:
        needed = -(-n_tokens // self.block_size) + SPARE
        if needed > len(self.free_blocks):
            return False
        self.tables[seq_id] = [self._take() for _ in range(needed)]
        self.lengths[seq_id] = n_tokens
        return True

    def append_slot(self, seq_id: int) -> bool:
        table, length = self.tables[seq_id], self.lengths[seq_id]
        slot_block = length // self.block_size
        if slot_block + SPARE >= len(table):
            if not self.free_blocks:
                return False
            table.append(self._take())
        block = table[slot_block]
        if self.ref_counts[block] > 1:
            if not self.free_blocks:
                return False
            copy = self._take()
            self.pool.keys[copy] = self.pool.keys[block]
            self.pool.values[copy] = self.pool.values[block]
            self.ref_counts[block] -= 1
            table[slot_block] = copy
        self.lengths[seq_id] = length + 1
        return True

    def fork(self, parent_id: int, child_id: int) -> None:
        table = self.tables[parent_id]
        for block in table:
            self.ref_counts[block] += 1
        self.tables[child_id] = list(table)
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
