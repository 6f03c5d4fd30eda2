"""One decode step of a TinyLM written for CUDA-graph capture: every tensor it reads or writes
is allocated once, and the position is a device tensor, not a Python int, so nothing about a
step is baked in at capture time except the buffers' addresses.

``step()`` reads the token ids in ``step.tokens`` ``[B, 1]`` and the position in
``step.position`` ``[1]``, writes that position's keys and values into the KV cache, attends
over the whole cache with future positions masked, and returns ``step.logits`` ``[B, vocab]``
(the same buffer every call). To run a new step, copy new values into ``tokens`` and
``position`` first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from quiz.lab.tinylm import TinyLM, TinyLMConfig

CONFIG = TinyLMConfig(
    vocab_size=512, d_model=256, n_layers=8, n_heads=8, n_kv_heads=2, ffn_dim=768,
    max_seq_len=256, seed=31,
)  # fmt: skip


class DecodeStep:
    def __init__(self, model: TinyLM, batch: int, device: torch.device) -> None:
        cfg = model.config
        if cfg.positions != "rope" or model.embed_positions is not None:
            raise ValueError("DecodeStep supports RoPE models")
        self.model = model.to(device)
        self.tokens = torch.zeros(batch, 1, dtype=torch.long, device=device)
        self.position = torch.zeros(1, dtype=torch.long, device=device)
        cache = (batch, cfg.n_kv_heads, cfg.max_seq_len, cfg.head_dim)
        self.keys = [torch.zeros(cache, device=device) for _ in model.blocks]
        self.values = [torch.zeros(cache, device=device) for _ in model.blocks]
        self.logits = torch.zeros(batch, cfg.vocab_size, device=device)
        self._slots = torch.arange(cfg.max_seq_len, device=device)
        rotary = model.blocks[0].attn.rotary
        assert rotary is not None
        self._cos, self._sin = rotary.cos, rotary.sin

    @torch.inference_mode()
    def __call__(self) -> Tensor:
        cfg, batch = self.model.config, self.tokens.shape[0]
        visible = (self._slots <= self.position).view(1, 1, 1, -1)
        cos = self._cos.index_select(0, self.position)
        sin = self._sin.index_select(0, self.position)
        h = self.model.embed_tokens(self.tokens)
        for block, keys, values in zip(self.model.blocks, self.keys, self.values, strict=True):
            attn = block.attn
            x = block.attn_norm(h)
            q = attn.q_proj(x).view(batch, 1, cfg.n_heads, cfg.head_dim).transpose(1, 2)
            k = attn.k_proj(x).view(batch, 1, cfg.n_kv_heads, cfg.head_dim).transpose(1, 2)
            v = attn.v_proj(x).view(batch, 1, cfg.n_kv_heads, cfg.head_dim).transpose(1, 2)
            if attn.q_norm is not None and attn.k_norm is not None:
                q, k = attn.q_norm(q), attn.k_norm(k)
            q, k = _rotate(q, cos, sin), _rotate(k, cos, sin)
            keys.index_copy_(2, self.position, k)
            values.index_copy_(2, self.position, v)
            o = F.scaled_dot_product_attention(q, keys, values, attn_mask=visible, enable_gqa=True)
            h = h + attn.output(o)
            h = block.feed_forward(h)
        self.logits.copy_(self.model.logits(h)[:, -1])
        return self.logits


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """RoPE in tinylm's rotate-half form, with the angle tables already gathered."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def build_model() -> TinyLM:
    return TinyLM(CONFIG)


def serve(solution: Any, init: dict[str, Any]) -> dict[str, Callable[..., Any]]:
    """The contestant's endpoint (runs in the sandboxed contestant process, on the GPU):
    ``steps((tokens [K, B, 1], positions [K]))`` runs K decode steps through what your
    ``capture(step)`` returned and gives back their logits ``[K, B, vocab]``. K steps per request
    keep the channel's round trip a small share of the timed call."""
    capture = getattr(solution, "capture", None)
    if not callable(capture):
        raise AttributeError("solution.py must define capture(step)")
    device = torch.device(init.get("device", "cuda"))
    step = DecodeStep(build_model(), int(init["batch"]), device)
    run = capture(step)

    def steps(request: tuple[Tensor, list[int]]) -> Tensor:
        tokens, positions = request  # one argument: the harness times endpoint(inputs)
        tokens = tokens.to(device)
        outs = []
        for k, position in enumerate(positions):
            step.tokens.copy_(tokens[k])
            step.position.fill_(int(position))
            outs.append(run().clone())  # the step's logits buffer is reused
        return torch.stack(outs)

    return {"steps": steps}
