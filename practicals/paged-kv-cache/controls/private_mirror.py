# A cheat on the capacity check (red-teamed: it passed, 3.37x): the pool is only a mirror. Each
# sequence privately reserves a contiguous 512-position KV buffer, exactly what the reserving
# baseline does, and its own forward() attends over that buffer; the block manager keeps honest
# tables and writes each new position's keys and values into the pool too, so every audit of the
# tables and the pool's contents passes. Its process holds the reservations outside the pool.
from __future__ import annotations

import torch
from paged_model import CONFIG, KVPool
from torch import Tensor

from quiz.lab.tinylm import TinyLM, attend

_current: list[int] = [0]
_private: dict[int, tuple[Tensor, Tensor]] = {}  # seq_id -> [L, KV, 512, hd] keys, values


def _reserve() -> tuple[Tensor, Tensor]:
    shape = (CONFIG.n_layers, CONFIG.n_kv_heads, CONFIG.max_seq_len, CONFIG.head_dim)
    return torch.zeros(shape), torch.zeros(shape)


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
        _private[seq_id] = _reserve()
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
        table = self.tables[parent_id]
        for block in table:
            self.ref_counts[block] += 1
        self.tables[child_id] = list(table)
        self.lengths[child_id] = self.lengths[parent_id]
        k, v = _private[parent_id]
        _private[child_id] = (k.clone(), v.clone())  # a full private copy, nothing shared

    def free(self, seq_id: int) -> None:
        for block in self.tables.pop(seq_id):
            self.ref_counts[block] -= 1
            if self.ref_counts[block] == 0:
                self.free_blocks.append(block)
        del self.lengths[seq_id]
        del _private[seq_id]

    def block_table(self, seq_id: int) -> list[int]:
        _current[0] = seq_id  # the driver asks for the table right before forward()
        return self.tables[seq_id]

    def _take(self) -> int:
        block = self.free_blocks.pop()
        self.ref_counts[block] = 1
        return block


def forward(model: TinyLM, pool: KVPool, table: list[int], start: int, tokens: Tensor) -> Tensor:
    """Attention over the sequence's private contiguous buffer; the pool only gets a copy."""
    pk, pv = _private[_current[0]]
    end = start + tokens.shape[1]
    size = pool.block_size
    blocks = torch.tensor(table[: -(-end // size)], dtype=torch.long)
    positions = torch.arange(start, end)
    slot_blocks, slot_offsets = blocks[positions // size], positions % size
    h = model.embed(tokens, start)
    for layer, block in enumerate(model.blocks):
        q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
        pk[layer, :, start:end] = k[0]
        pv[layer, :, start:end] = v[0]
        # mirror into the pool, for the audits
        pool.keys[slot_blocks, layer, :, slot_offsets] = k[0].transpose(0, 1)
        pool.values[slot_blocks, layer, :, slot_offsets] = v[0].transpose(0, 1)
        keys = pk[layer : layer + 1, :, :end]
        values = pv[layer : layer + 1, :, :end]
        h = h + block.attn.output(attend(q, keys, values))
        h = block.feed_forward(h)
    return model.logits(h[:, -1:])[0, -1]
