"""The paged-kv-cache practical's public side: the model, the physical KV pool, and the driver
that serves your ``BlockManager`` and ``forward`` to the grader.

The model is a two-layer TinyLM (quiz.lab.tinylm) with synthetic weights: d_model 256, 8 query
heads and 4 KV heads of dimension 32 (grouped-query attention), RoPE, fp32 on the CPU, up to 512
positions. One position's keys and values take 2 x 2 layers x 4 heads x 32 x 4 B = 2 KiB.

``forward`` runs the model over a block table: it writes the new positions' keys and values into
their slots and gathers every position so far for attention (PagedAttention's gather, in
PyTorch). ``serve`` uses it unless ``solution.py`` defines its own ``forward``.

The pool is allocated once, here, at the size the grader asks for: ``keys`` and ``values`` of
shape ``[num_blocks, n_layers, n_kv_heads, block_size, head_dim]``. A block holds
``block_size`` consecutive positions of one sequence, for every layer.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import torch
from torch import Tensor

from quiz.lab.tinylm import TinyLM, TinyLMConfig, attend

CONFIG = TinyLMConfig(
    vocab_size=256,
    d_model=256,
    n_layers=2,
    n_heads=8,
    n_kv_heads=4,
    ffn_dim=768,
    positions="rope",
    qk_norm=False,
    max_seq_len=512,
    seed=23,
)
BLOCK_SIZE = 16


def build_model() -> TinyLM:
    """The fp32 model (deterministic: the same weights on every call)."""
    return TinyLM(CONFIG)


class KVPool:
    """The physical KV cache: ``num_blocks`` blocks of ``block_size`` positions each."""

    def __init__(self, num_blocks: int, block_size: int = BLOCK_SIZE) -> None:
        shape = (num_blocks, CONFIG.n_layers, CONFIG.n_kv_heads, block_size, CONFIG.head_dim)
        self.num_blocks = num_blocks
        self.block_size = block_size
        self.keys = torch.zeros(shape)
        self.values = torch.zeros(shape)

    @property
    def bytes_per_block(self) -> int:
        return 2 * self.keys[0].numel() * self.keys.element_size()


def forward(model: TinyLM, pool: KVPool, table: list[int], start: int, tokens: Tensor) -> Tensor:
    """Run ``tokens`` ``[1, T]`` at positions ``start..start+T-1`` of the sequence whose blocks
    are ``table``: write their keys and values into the pool, attend over all positions so far,
    and return the last position's logits ``[vocab]``."""
    end = start + tokens.shape[1]
    size = pool.block_size
    blocks = torch.tensor(table[: -(-end // size)], dtype=torch.long)
    positions = torch.arange(start, end)
    slot_blocks, slot_offsets = blocks[positions // size], positions % size
    h = model.embed(tokens, start)
    for layer, block in enumerate(model.blocks):
        q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
        pool.keys[slot_blocks, layer, :, slot_offsets] = k[0].transpose(0, 1)
        pool.values[slot_blocks, layer, :, slot_offsets] = v[0].transpose(0, 1)
        keys = _gather(pool.keys, blocks, layer, end)
        values = _gather(pool.values, blocks, layer, end)
        h = h + block.attn.output(attend(q, keys, values))
        h = block.feed_forward(h)
    return model.logits(h[:, -1:])[0, -1]


def _gather(cache: Tensor, blocks: Tensor, layer: int, end: int) -> Tensor:
    """Positions ``0..end-1`` of one layer as ``[1, kv_heads, end, head_dim]``."""
    per_block = cache[blocks, layer]  # [n_blocks, kv_heads, block_size, head_dim]
    kv_heads, head_dim = per_block.shape[1], per_block.shape[3]
    return per_block.transpose(0, 1).reshape(1, kv_heads, -1, head_dim)[:, :, :end]


def serve(solution: ModuleType, init: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """The endpoints the grader calls. ``init``: ``{"num_blocks": n, "block_size": b}``.

    - ``add(seq_id, prompt)``: allocate the prompt's positions and prefill them; the greedy next
      token, or None (nothing allocated) when the manager has no room.
    - ``step(batch)``: for each ``[seq_id, token]``, make room for one position and run the
      token; the greedy next token for each, or None where no block was free.
    - ``fork(parent_id, child_id)``, ``free(seq_id)``.
    - ``tables()``: every live sequence's block table, ``{"<seq_id>": [block, ...]}``.
    - ``read_blocks(ids)``: ``[keys, values]`` of those physical blocks, read from the pool.
    """
    model = build_model()
    pool = KVPool(int(init["num_blocks"]), int(init.get("block_size", BLOCK_SIZE)))
    manager = solution.BlockManager(pool)
    run_model = getattr(solution, "forward", forward)
    lengths: dict[int, int] = {}

    @torch.inference_mode()
    def run(seq_id: int, tokens: list[int], start: int) -> int:
        logits = run_model(model, pool, manager.block_table(seq_id), start, torch.tensor([tokens]))
        return int(logits.reshape(-1, CONFIG.vocab_size)[-1].argmax())

    def add(seq_id: int, prompt: list[int]) -> int | None:
        if not manager.allocate(seq_id, len(prompt)):
            return None
        lengths[seq_id] = len(prompt)
        return run(seq_id, prompt, 0)

    def step(batch: list[list[int]]) -> list[int | None]:
        out: list[int | None] = []
        for seq_id, token in batch:
            if not manager.append_slot(seq_id):
                out.append(None)
                continue
            lengths[seq_id] += 1
            out.append(run(seq_id, [token], lengths[seq_id] - 1))
        return out

    def fork(parent_id: int, child_id: int) -> None:
        manager.fork(parent_id, child_id)
        lengths[child_id] = lengths[parent_id]

    def free(seq_id: int) -> None:
        manager.free(seq_id)
        del lengths[seq_id]

    def tables() -> dict[str, list[int]]:
        return {str(s): [int(b) for b in manager.block_table(s)] for s in lengths}

    def read_blocks(ids: list[int]) -> list[Tensor]:
        index = torch.tensor(ids, dtype=torch.long)
        return [pool.keys[index].clone(), pool.values[index].clone()]

    return {
        "add": add,
        "step": step,
        "fork": fork,
        "free": free,
        "tables": tables,
        "read_blocks": read_blocks,
    }
