# Copy-on-write done eagerly: fork() copies every block of the parent into new blocks, so the
# branches are correct but hold their shared prompt twice (what parallel sampling without
# paging costs).
from __future__ import annotations

from paged_model import KVPool


class BlockManager:
    def __init__(self, pool: KVPool) -> None:
        self.pool = pool
        self.block_size = pool.block_size
        self.free_blocks = list(range(pool.num_blocks - 1, -1, -1))
        self.tables: dict[int, list[int]] = {}
        self.lengths: dict[int, int] = {}

    def allocate(self, seq_id: int, n_tokens: int) -> bool:
        needed = -(-n_tokens // self.block_size)
        if needed > len(self.free_blocks):
            return False
        self.tables[seq_id] = [self.free_blocks.pop() for _ in range(needed)]
        self.lengths[seq_id] = n_tokens
        return True

    def append_slot(self, seq_id: int) -> bool:
        if self.lengths[seq_id] % self.block_size == 0:
            if not self.free_blocks:
                return False
            self.tables[seq_id].append(self.free_blocks.pop())
        self.lengths[seq_id] += 1
        return True

    def fork(self, parent_id: int, child_id: int) -> None:
        copies = []
        for block in self.tables[parent_id]:
            copy = self.free_blocks.pop()
            self.pool.keys[copy] = self.pool.keys[block]
            self.pool.values[copy] = self.pool.values[block]
            copies.append(copy)
        self.tables[child_id] = copies
        self.lengths[child_id] = self.lengths[parent_id]

    def free(self, seq_id: int) -> None:
        self.free_blocks.extend(self.tables.pop(seq_id))
        del self.lengths[seq_id]

    def block_table(self, seq_id: int) -> list[int]:
        return self.tables[seq_id]
