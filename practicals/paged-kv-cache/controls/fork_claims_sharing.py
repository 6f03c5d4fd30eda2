# A cheat on the fork check: fork() takes a private copy of every block but reports the parent's
# blocks in the child's table, so the tables claim sharing the pool does not have.

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
        """Blocks for a new sequence's first ``n_tokens`` positions; False if they don't fit."""
        needed = -(-n_tokens // self.block_size)
        if needed > len(self.free_blocks):
            return False
        self.tables[seq_id] = [self._take() for _ in range(needed)]
        self.lengths[seq_id] = n_tokens
        return True

    def append_slot(self, seq_id: int) -> bool:
        """Room for one more position; False (nothing changed) if no block is free."""
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
        """The child shares all the parent's blocks until one of them writes."""
        table = self.tables[parent_id]
        for block in table:
            self.ref_counts[block] += 1
            copy = self._take()  # a private copy nobody's table names
            self.pool.keys[copy] = self.pool.keys[block]
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
