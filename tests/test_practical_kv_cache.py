"""kv-cache: the reference passes; the starter, every control and a cache that hides copies in
module globals fail; graded through the real runner, referee and sandboxed contestants. The
fast tests check the reference against full recompute and the grader's K/V and bytes logic."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import torch

from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from quiz.lab.tinylm import generate_full_recompute
from tests.lab_fixtures import (
    failed_checks,
    failed_names,
    graded_reference,
    practical_module,
    shipped_files,
)

PRACTICAL = "kv-cache"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]

# Reports the formula's bytes and hands back compact keys/values, but attends over copies
# expanded to every query head that it keeps in a module global, out of the cache's sight.
HIDDEN_EXPANDED_COPIES = """
import torch
from reference import KVCache, forward_step
from quiz.lab.tinylm import attend

_EXPANDED = {}


@torch.inference_mode()
def generate(model, prompt, max_new_tokens):
    cache = KVCache(model.config, prompt.numel() + max_new_tokens - 1)
    group = model.config.n_heads // model.config.n_kv_heads
    tokens, out = prompt.reshape(1, -1), []
    for _ in range(max_new_tokens):
        start = cache.length
        h = model.embed(tokens, start)
        for i, block in enumerate(model.blocks):
            q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
            cache.append(i, k, v)
            wide = (k.repeat_interleave(group, 1), v.repeat_interleave(group, 1))
            old = _EXPANDED.get((id(cache), i))
            if old is not None:
                wide = (torch.cat((old[0], wide[0]), 2), torch.cat((old[1], wide[1]), 2))
            _EXPANDED[(id(cache), i)] = wide
            h = h + block.attn.output(attend(q, *wide))
            h = block.feed_forward(h)
        cache.length += tokens.shape[1]
        tokens = model.logits(h[:, -1:])[:, -1].argmax(-1, keepdim=True)
        out.append(tokens)
    return torch.cat(out, dim=1)[0], cache
"""


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


@pytest.mark.parametrize("prompt_len", [1, 17])
def test_reference_matches_full_recompute_and_the_formula(prompt_len: int) -> None:
    kv_model = practical_module(PRACTICAL, "kv_model.py")
    reference = practical_module(PRACTICAL, "reference.py")
    model = kv_model.build_model()
    prompt = kv_model.prompt(prompt_len, length=prompt_len)
    tokens, cache = reference.generate(model, prompt, 24)
    assert torch.equal(tokens, generate_full_recompute(model, prompt, 24))
    assert cache.nbytes() == 2 * 2 * 2 * 32 * 4 * (prompt_len + 24 - 1)  # 2 layers, 2 KV heads


def cache_reply(new_tokens: int = 6) -> tuple[ModuleType, torch.Tensor, dict[str, Any], int]:
    """(grader module, prompt, what the driver's cache endpoint sends for the reference, fed)."""
    kv_model = practical_module(PRACTICAL, "kv_model.py")
    grader = practical_module(PRACTICAL, "grader.py")
    reference = practical_module(PRACTICAL, "reference.py")
    endpoints = kv_model.serve(reference, None)
    prompt = kv_model.prompt(5, length=40)
    reply = endpoints["cache"]({"prompt": prompt, "new_tokens": new_tokens})
    return grader, prompt, reply, prompt.numel() + new_tokens - 1


def test_kv_check_accepts_the_reference_cache_and_names_a_wrong_position() -> None:
    grader, prompt, reply, fed = cache_reply()
    model = practical_module(PRACTICAL, "kv_model.py").build_memory_model()
    assert grader.kv_check(model, prompt, reply, fed).passed
    reply["keys"][2] = reply["keys"][2].clone()
    reply["keys"][2][:, :, 30:] += 0.1
    check = grader.kv_check(model, prompt, reply, fed)
    assert not check.passed and "layer 2 keys" in check.message and "position 30" in check.message


def test_kv_check_refuses_keys_expanded_to_the_query_heads() -> None:
    grader, prompt, reply, fed = cache_reply()
    model = practical_module(PRACTICAL, "kv_model.py").build_memory_model()
    reply["keys"] = [k.repeat_interleave(4, dim=1) for k in reply["keys"]]
    check = grader.kv_check(model, prompt, reply, fed)
    assert not check.passed and "one copy per KV head" in check.message


def test_kv_check_refuses_keys_kept_in_half_precision() -> None:
    grader, prompt, reply, fed = cache_reply()
    model = practical_module(PRACTICAL, "kv_model.py").build_memory_model()
    reply["values"] = [v.half().float() for v in reply["values"]]
    check = grader.kv_check(model, prompt, reply, fed)
    assert not check.passed and "values differ" in check.message


def test_bytes_check_holds_the_process_to_the_formula() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    per_position = 2 * 4 * 2 * 32 * 4
    formula = per_position * 900
    assert grader.bytes_check(formula, formula + 8192, 2 * formula, 900).passed
    assert grader.bytes_check(formula + per_position, formula, formula, 900).passed  # spare slot
    wrong_report = grader.bytes_check(4 * formula, formula, formula, 900)
    assert not wrong_report.passed and "reports" in wrong_report.message
    hidden = grader.bytes_check(formula, 4 * formula, 4 * formula, 900)
    assert not hidden.passed and "holds" in hidden.message
    # compact when it returns, 4x (every query head's copy) while it decoded
    expanded_while_decoding = grader.bytes_check(formula, formula, 5 * formula, 900)
    assert not expanded_while_decoding.passed
    assert "while decoding" in expanded_while_decoding.message
    # the keys and values kept in a buffer that existed before the call: hardly any growth
    set_aside = grader.bytes_check(formula, 140 * 2**10, 200 * 2**10, 900)
    assert not set_aside.passed and "set aside before the call" in set_aside.message
    # ... and one used beside a decoy of the formula's size: what was set aside counts as held
    decoy = grader.bytes_check(formula, formula + 6 * formula, formula, 900, set_aside=6 * formula)
    assert not decoy.passed and "memory set aside earlier" in decoy.message


def test_grader_names_the_first_wrong_token() -> None:
    kv_model = practical_module(PRACTICAL, "kv_model.py")
    grader = practical_module(PRACTICAL, "grader.py")
    model = kv_model.build_model()
    prompt = kv_model.prompt(4, length=8)
    expected = generate_full_recompute(model, prompt, 6)
    grader.compare_tokens(model, prompt, expected, expected.clone())
    wrong = expected.clone()
    wrong[3] = (wrong[3] + 1) % 256
    with pytest.raises(AssertionError, match="new token 3"):
        grader.compare_tokens(model, prompt, expected, wrong)


def test_after_a_rounding_tie_the_rest_is_still_checked() -> None:
    """Either token of a near-tie is greedy, but what follows must be greedy given it: a
    continuation that goes wrong after a tie fails (it used to be compared only up to the tie)."""
    grader = practical_module(PRACTICAL, "grader.py")
    prompt, n, vocab = torch.tensor([5, 6]), 8, 16
    table = torch.zeros(1, prompt.numel() - 1 + n + 1, vocab)
    table[0, :, 3] = 1.0  # token 3 is greedy everywhere ...
    table[0, prompt.numel() - 1 + 2, 4] = 1.0 - 1e-5  # ... 4 ties with it at position 2

    class Model:
        config = SimpleNamespace(vocab_size=vocab)

        def __call__(self, sequence: torch.Tensor) -> torch.Tensor:
            return table[:, : sequence.shape[1]]

    expected = torch.full((n,), 3)
    tie = expected.clone()
    tie[2] = 4
    grader.compare_tokens(Model(), prompt, expected, tie)
    wrong_after = tie.clone()
    wrong_after[5] = 7
    with pytest.raises(AssertionError, match="new token 5 is 7, full recompute gives 3"):
        grader.compare_tokens(Model(), prompt, expected, wrong_after)
    out_of_range = tie.clone()
    out_of_range[6] = vocab
    with pytest.raises(AssertionError, match="must lie in 0..15"):
        grader.compare_tokens(Model(), prompt, expected, out_of_range)
    with pytest.raises(AssertionError, match="integers"):
        grader.compare_tokens(Model(), prompt, expected, tie.float())


@pytest.mark.slow
def test_reference_passes() -> None:
    result = graded_reference(PRACTICAL)
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
    if name == "control:buffer_from_import":
        assert failed_names(result) == {"cache bytes = formula"}, failed_checks(result)
    if name in ("starter", "control:no_cache"):
        # Full recompute: the 880-token memory job (over a minute of it) is not run.
        cache = next(c for c in result.checks if c.name == "cache keys/values match recompute")
        assert cache.message.startswith("not measured: your generate() is"), cache.message


@pytest.mark.slow
def test_copies_hidden_in_module_globals_count_against_the_cache(tmp_path: Path) -> None:
    # Graded as a control so that it may import the model solution's KVCache.
    (tmp_path / "solution.py").write_text(HIDDEN_EXPANDED_COPIES, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="control:hidden_copies")
    assert "cache bytes = formula" in failed_names(result), failed_checks(result)
    message = next(c.message for c in result.checks if c.name == "cache bytes = formula")
    assert "your process holds" in message


# Decodes with keys and values expanded to all 8 query heads (4x the grouped-query bytes), then
# returns a compact copy as "the cache". Red-teamed when memory was read only after the call
# (and the sequence was mostly a 930-token prefill, whose activations dwarfed the cache): it
# passed every check.
EXPANDED_WHILE_DECODING = """import torch
from torch import Tensor
from quiz.lab.tinylm import TinyLM, attend


class KVCache:
    def __init__(self, keys, values, length):
        self.keys, self.values, self.length = keys, values, length

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)

    def keys_values(self, layer: int):
        return self.keys[layer], self.values[layer]


@torch.inference_mode()
def generate(model: TinyLM, prompt: Tensor, max_new_tokens: int):
    cfg = model.config
    group = cfg.n_heads // cfg.n_kv_heads
    cap = prompt.numel() + max_new_tokens - 1
    shape = (1, cfg.n_heads, cap, cfg.head_dim)  # expanded: n_heads, not n_kv_heads
    K = [torch.empty(shape) for _ in range(cfg.n_layers)]
    V = [torch.empty(shape) for _ in range(cfg.n_layers)]
    length = 0
    tokens = prompt.reshape(1, -1)
    out = []
    for _ in range(max_new_tokens):
        start = length
        h = model.embed(tokens, start)
        end = start + tokens.shape[1]
        for i, block in enumerate(model.blocks):
            q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
            K[i][:, :, start:end] = k.repeat_interleave(group, dim=1)
            V[i][:, :, start:end] = v.repeat_interleave(group, dim=1)
            h = h + block.attn.output(attend(q, K[i][:, :, :end], V[i][:, :, :end]))
            h = block.feed_forward(h)
        length = end
        tokens = model.logits(h[:, -1:])[:, -1].argmax(-1, keepdim=True)
        out.append(tokens)
    compact_k = [k[:, ::group, :length].clone() for k in K]
    compact_v = [v[:, ::group, :length].clone() for v in V]
    del K, V
    return torch.cat(out, dim=1)[0], KVCache(compact_k, compact_v, length)
"""

# An honest cache grown with torch.cat every step: slower, and the heap keeps some of each
# step's freed tensors, but never more than one copy per KV head and position.
GROWN_WITH_CAT = """
import torch
from torch import Tensor

from quiz.lab.tinylm import TinyLM, attend


class KVCache:
    def __init__(self, n_layers: int) -> None:
        self.keys: list[Tensor | None] = [None] * n_layers
        self.values: list[Tensor | None] = [None] * n_layers
        self.length = 0

    def append(self, layer, k, v):
        old_k, old_v = self.keys[layer], self.values[layer]
        self.keys[layer] = k if old_k is None else torch.cat((old_k, k), 2)
        self.values[layer] = v if old_v is None else torch.cat((old_v, v), 2)
        return self.keys[layer], self.values[layer]

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.keys + self.values)

    def keys_values(self, layer):
        return self.keys[layer], self.values[layer]


@torch.inference_mode()
def generate(model: TinyLM, prompt: Tensor, max_new_tokens: int):
    cache = KVCache(model.config.n_layers)
    tokens = prompt.reshape(1, -1)
    out = []
    for _ in range(max_new_tokens):
        start = cache.length
        h = model.embed(tokens, start)
        for i, block in enumerate(model.blocks):
            q, k, v = block.attn.project_qkv(block.attn_norm(h), start)
            keys, values = cache.append(i, k, v)
            h = h + block.attn.output(attend(q, keys, values))
            h = block.feed_forward(h)
        cache.length += tokens.shape[1]
        tokens = model.logits(h[:, -1:])[:, -1].argmax(-1, keepdim=True)
        out.append(tokens)
    # the last token was never fed
    return torch.cat(out, dim=1)[0], cache
"""


@pytest.mark.slow
def test_a_cache_expanded_while_decoding_is_seen_at_its_peak(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(EXPANDED_WHILE_DECODING, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert "cache bytes = formula" in failed_names(result), failed_checks(result)
    message = next(c.message for c in result.checks if c.name == "cache bytes = formula")
    assert "while decoding" in message


@pytest.mark.slow
def test_a_cache_grown_with_cat_keeps_to_the_formula(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(GROWN_WITH_CAT, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert result.error is None, result.error
    assert "cache bytes = formula" not in failed_names(result), failed_checks(result)
