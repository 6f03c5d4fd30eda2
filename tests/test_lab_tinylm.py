"""TinyLM (quiz.lab.tinylm): seeded weights, the incremental-decoding pieces agree with the full
forward, and tensor_bytes measures what an object really holds."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import Tensor, nn

from quiz.lab.tinylm import (
    TinyLM,
    TinyLMConfig,
    attend,
    draft_config,
    generate_full_recompute,
    random_prompt,
    tensor_bytes,
)

SMALL = TinyLMConfig(d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=128, max_seq_len=64)
VARIANTS = {
    "gqa-rope-qknorm": SMALL,
    "mha-learned": TinyLMConfig(
        d_model=64, n_layers=2, n_heads=4, n_kv_heads=4, ffn_dim=96, positions="learned"
    ),
    "tied-gelu-no-qknorm": TinyLMConfig(
        d_model=64, n_layers=3, n_heads=8, n_kv_heads=1, mlp="gelu", qk_norm=False,
        tie_embeddings=True,
    ),
    "bigram-spread": TinyLMConfig(
        d_model=64, n_layers=2, n_heads=4, n_kv_heads=2, head_scale_spread=2.0,
        bigram_strength=0.1,
    ),
}  # fmt: skip


def incremental_logits(model: TinyLM, tokens: Tensor, prefill: int) -> Tensor:
    """Logits of every position, computed by prefilling ``prefill`` tokens and then feeding one
    token at a time against a cache of keys and values."""
    caches: list[tuple[Tensor, Tensor] | None] = [None] * len(model.blocks)
    chunks = [tokens[:, :prefill]] + list(tokens[:, prefill:].split(1, dim=1))
    outputs, start = [], 0
    for chunk in chunks:
        h = model.embed(chunk, start)
        for i, block in enumerate(model.blocks):
            q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
            cached = caches[i]
            if cached is not None:
                k, v = torch.cat((cached[0], k), dim=2), torch.cat((cached[1], v), dim=2)
            caches[i] = (k, v)
            h = h + block.attn.output(attend(q, k, v))
            h = block.feed_forward(h)
        outputs.append(model.logits(h))
        start += chunk.shape[1]
    return torch.cat(outputs, dim=1)


def test_weights_are_deterministic_per_seed() -> None:
    a, b = TinyLM(SMALL).state_dict(), TinyLM(SMALL).state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)
    other = TinyLM(TinyLMConfig(**{**SMALL.__dict__, "seed": 1})).state_dict()
    assert not torch.equal(a["blocks.0.attn.q_proj.weight"], other["blocks.0.attn.q_proj.weight"])


def test_global_rng_is_left_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    TinyLM(SMALL)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("name", VARIANTS)
@torch.inference_mode()
def test_cached_pieces_reproduce_the_full_forward(name: str) -> None:
    model = TinyLM(VARIANTS[name])
    tokens = random_prompt(model.config, 24, seed=5)[None]
    full = model(tokens)
    assert full.shape == (1, 24, model.config.vocab_size)
    for prefill in (1, 9):
        torch.testing.assert_close(incremental_logits(model, tokens, prefill), full)


@torch.inference_mode()
def test_attend_with_fewer_queries_matches_the_tail_of_full_attention() -> None:
    gen = torch.Generator().manual_seed(0)
    q = torch.randn(1, 4, 10, 16, generator=gen)
    k, v = torch.randn(1, 2, 10, 16, generator=gen), torch.randn(1, 2, 10, 16, generator=gen)
    full = attend(q, k, v)
    torch.testing.assert_close(attend(q[:, :, 6:], k, v), full[:, :, 6:])
    torch.testing.assert_close(attend(q[:, :, 9:], k, v), full[:, :, 9:])
    with pytest.raises(ValueError, match="queries"):
        attend(q, k[:, :, :5], v[:, :, :5])


def test_draft_config_shares_all_but_the_depth_scaled_projections() -> None:
    target = TinyLM(SMALL).state_dict()
    draft = TinyLM(draft_config(SMALL, 1)).state_dict()
    assert set(draft) < set(target)
    differ = {name for name in draft if not torch.equal(draft[name], target[name])}
    assert differ == {"blocks.0.attn.o_proj.weight", "blocks.0.mlp.down.weight"}
    with pytest.raises(ValueError):
        draft_config(SMALL, 3)


@torch.inference_mode()
def test_generate_full_recompute_is_greedy() -> None:
    model = TinyLM(SMALL)
    prompt = random_prompt(SMALL, 5, seed=2)
    new = generate_full_recompute(model, prompt, 4)
    assert new.shape == (4,)
    seq = prompt
    for token in new:
        assert int(model(seq[None])[0, -1].argmax()) == int(token)
        seq = torch.cat((seq, token[None]))


def test_config_rejects_inconsistent_shapes() -> None:
    with pytest.raises(ValueError, match="n_heads"):
        TinyLMConfig(d_model=60, n_heads=8)
    with pytest.raises(ValueError, match="n_kv_heads"):
        TinyLMConfig(n_heads=8, n_kv_heads=3)
    with pytest.raises(ValueError, match="qk_norm"):
        TinyLMConfig(qk_norm=False, head_scale_spread=1.0)


def test_kv_bytes_per_token_is_the_formula() -> None:
    assert SMALL.kv_bytes_per_token() == 2 * 2 * 2 * 16 * 4
    assert SMALL.kv_bytes_per_token(torch.bfloat16) == 2 * 2 * 2 * 16 * 2


def test_tensor_bytes_counts_each_storage_once() -> None:
    big = torch.zeros(1000)

    class Holder:
        def __init__(self) -> None:
            self.view = big[:10]  # pins all of big
            self.same = [big, {"again": big[5:]}]
            self.small = torch.zeros(3, dtype=torch.int8)

    assert tensor_bytes(Holder()) == 4000 + 3
    assert tensor_bytes(Holder(), exclude=big) == 3


def test_tensor_bytes_of_a_model_and_of_packed_int8_weights() -> None:
    model = TinyLM(SMALL)
    params = sum(p.numel() * 4 for p in model.parameters())
    rotary = model.blocks[0].attn.rotary
    assert rotary is not None
    assert tensor_bytes(model) == params + rotary.cos.nbytes + rotary.sin.nbytes
    linear = nn.Sequential(nn.Linear(64, 32, bias=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantized = torch.ao.quantization.quantize_dynamic(linear, {nn.Linear}, dtype=torch.qint8)
    assert tensor_bytes(quantized) == 64 * 32  # int8 weights behind a TorchScript object
