"""prefix-cache: the reference passes; the starter, every control and an engine that keeps its
cache in a module global fail; graded through the real runner, referee and sandboxed
contestants. The fast tests replay a trace through the reference engine and check the traces,
their ideal hit rate and the grader's budget logic."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from quiz.lab.catalog import get_practical
from quiz.lab.harness import Comparison, Timing
from quiz.lab.runner import grade_practical
from quiz.lab.tinylm import tensor_bytes
from tests.lab_fixtures import (
    failed_checks,
    failed_names,
    graded_reference,
    practical_module,
    shipped_files,
)

PRACTICAL = "prefix-cache"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]

# The engine object holds nothing; every prompt's KV goes into a module global, never evicted.
MODULE_GLOBAL_CACHE = """
import torch
from prefix_model import forward_with_past, kv_slice

_ENTRIES = []


class PrefixCachingEngine:
    def __init__(self, model, budget_bytes):
        self.model = model
        self.tokens = [0, 0]

    @torch.inference_mode()
    def prefill(self, prompt):
        best, best_kv = 0, None
        for tokens, kv in _ENTRIES:
            if tokens[0] is not self.model:
                continue
            n = min(tokens[1].numel(), prompt.numel() - 1)
            differ = (tokens[1][:n] != prompt[:n]).nonzero()
            shared = n if differ.numel() == 0 else int(differ[0, 0])
            if shared > best:
                best, best_kv = shared, kv
        past = kv_slice(best_kv, best) if best_kv is not None else None
        logits, kv = forward_with_past(self.model, prompt[best:], past)
        _ENTRIES.append(((self.model, prompt.clone()), kv))
        self.tokens[0] += prompt.numel()
        self.tokens[1] += best
        return logits

    def hit_rate(self):
        return self.tokens[1] / self.tokens[0] if self.tokens[0] else 0.0
"""


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_reference_engine_is_exact_and_stays_within_budget() -> None:
    prefix_model = practical_module(PRACTICAL, "prefix_model.py")
    reference = practical_module(PRACTICAL, "reference.py")
    model = prefix_model.build_budget_model()
    budget = prefix_model.EVICTION_BUDGET_BYTES
    engine = reference.PrefixCachingEngine(model, budget)
    trace = prefix_model.eviction_trace(7)
    for prompt in trace:
        actual = engine.prefill(prompt)
        expected = prefix_model.forward_with_past(model, prompt)[0]
        torch.testing.assert_close(actual, expected, rtol=0, atol=1e-3)
        assert tensor_bytes(engine, exclude=model) <= budget
    assert 0 < engine.hit_rate() <= prefix_model.ideal_hit_rate(trace)


def test_traces_are_seeded_and_share_prefixes() -> None:
    prefix_model = practical_module(PRACTICAL, "prefix_model.py")
    first, again = prefix_model.shared_prefix_trace(3), prefix_model.shared_prefix_trace(3)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert len(first) == prefix_model.SHARED_REQUESTS
    assert 0.8 < prefix_model.ideal_hit_rate(first) < 1.0
    # The eviction trace: any two prompts fit the budget, all of them together far from it.
    per_position = prefix_model.BUDGET_CONFIG.kv_bytes_per_token()
    sizes = [p.numel() * per_position for p in prefix_model.eviction_trace(3)]
    assert 2 * max(sizes) <= prefix_model.EVICTION_BUDGET_BYTES < sum(sizes) / 4
    # An engine that never evicts holds every distinct prefix: over twice what the budget check
    # allows (with 5 prefixes it fitted in the allowance for allocator noise, and passed).
    grader = practical_module(PRACTICAL, "grader.py")
    # the allowance at the baseline's growth seen with 8 torch threads (about 6 MiB)
    allowed = prefix_model.EVICTION_BUDGET_BYTES + grader.MEMORY_NOISE_BYTES + 6 * 2**20
    shortest = prefix_model.EVICTION_PREFIX_LEN[0]
    distinct = {tuple(p[:shortest].tolist()) for p in prefix_model.eviction_trace(3)}
    assert len(distinct) == prefix_model.EVICTION_PREFIXES
    assert len(distinct) * shortest * per_position > 1.5 * allowed
    assert len(prefix_model.eviction_trace(3)) == prefix_model.EVICTION_REQUESTS


def test_ideal_hit_rate_counts_the_longest_earlier_prefix() -> None:
    prefix_model = practical_module(PRACTICAL, "prefix_model.py")
    trace = [torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 3, 9]), torch.tensor([1, 2, 3, 4])]
    # the second reuses 3 tokens; the third all but its last (3); 12 prompt tokens in all
    assert prefix_model.ideal_hit_rate(trace) == pytest.approx(6 / 12)


def test_budget_check_reads_the_peak_against_the_budget_plus_noise() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    mib = 2**20
    assert grader.budget_check([1 * mib, 6.5 * mib, 4 * mib], [10.5 * mib]).passed
    over = grader.budget_check([1 * mib, 7.5 * mib], [2 * mib])  # an engine allowed budget + 3.5
    assert not over.passed and "after request 2" in over.message and "eviction" in over.message
    shared_over = grader.budget_check([1 * mib], [11.5 * mib])
    assert not shared_over.passed and "shared-prefix" in shared_over.message


def test_what_the_baseline_grew_by_is_allowed_on_top() -> None:
    grader = practical_module(PRACTICAL, "grader.py")
    mib = 2**20
    assert not grader.budget_check([9 * mib], [2 * mib]).passed
    passed = grader.budget_check([9 * mib], [2 * mib], drift=3 * mib)
    assert passed.passed and "3.0 MiB of it what prefill without caching grew by" in passed.message
    assert passed.threshold == (4 + 3 + 3) * mib


def _comparison(speedup: float, low: float, high: float) -> Comparison:
    timing = Timing.of([1.0, 1.0, 1.0])
    return Comparison(speedup, low, high, timing, timing, noisy=False, trials=3)


def test_a_reported_hit_rate_must_be_plausible_and_backed_by_the_timing() -> None:
    check = practical_module(PRACTICAL, "grader.py").hit_rate_check
    fast = _comparison(5.5, 4.8, 6.0)  # shows at least 1 - 1/4.8 = 79% reused
    assert check(0.85, 0.92, fast, 0.5).passed
    assert "at least 79% of prompt tokens reused" in check(0.85, 0.92, fast, 0.5).message
    assert not check(0.95, 0.92, fast, 0.5).passed  # more than the trace allows
    assert not check(0.4, 0.92, fast, 0.5).passed
    assert not check("0.8", 0.92, fast, 0.5).passed
    assert not check(True, 0.92, fast, 0.5).passed
    assert not check(0.85, 0.92, None, 0.5).passed  # the timing failed: nothing backs it
    # The no_cache control: no reuse at all, a plausible 0.8 claimed.
    flat = check(0.8, 0.92, _comparison(1.02, 0.99, 1.05), 0.5)
    assert not flat.passed
    assert flat.message.startswith("your engine reports 0.80, but prefill took 0.98x"), flat.message
    assert "shows at least 0% of prompt tokens reused; 50% needed" in flat.message


def test_an_lru_of_the_eviction_budget_holds_each_repeat_of_the_last_two_prompts() -> None:
    """The eviction trace repeats one of the last two system prompts after each new one; an LRU
    of whole prompts under the 4 MiB budget (the grader's model of what must be reused) holds
    every such repeat, and nothing else on that trace is a hit."""
    prefix_model = practical_module(PRACTICAL, "prefix_model.py")
    grader = practical_module(PRACTICAL, "grader.py")
    per_position = prefix_model.build_budget_model().config.kv_bytes_per_token()
    shortest = prefix_model.EVICTION_PREFIX_LEN[0]
    for seed in range(5):
        trace = prefix_model.eviction_trace(seed)
        hits = grader.lru_hits(trace, prefix_model.EVICTION_BUDGET_BYTES, per_position)
        prefixes = [tuple(prompt[:shortest].tolist()) for prompt in trace]
        repeats = []
        for i, prefix in enumerate(prefixes):
            recent = list(dict.fromkeys(reversed(prefixes[:i])))[:2]
            repeats.append(prefix in recent)
        assert hits == repeats and sum(hits) >= 10, (seed, hits)
    # With room for one prompt only, a repeat of the one before the last is a miss.
    a, b = torch.arange(100), torch.arange(100, 200)
    tiny = grader.lru_hits([a, b, a], 150 * (per_position + 8), per_position)
    assert tiny == [False, False, False]


def test_recently_used_prefixes_must_be_served_faster_than_no_caching() -> None:
    check = practical_module(PRACTICAL, "grader.py").recency_check
    hits = [False, True, True, True, True, False]
    cached = [(1.0, 1.0), (0.3, 1.0), (0.4, 1.0), (0.6, 1.0), (0.35, 1.0), (1.1, 1.0)]
    assert check(cached, hits, 0.75).passed
    one_slow = [*cached[:3], (1.05, 1.0), *cached[4:]]
    assert check(one_slow, hits, 0.75).passed  # 3 of 4
    frozen = [(1.0, 1.0), (0.3, 1.0), (1.02, 1.0), (0.98, 1.0), (1.1, 1.0), (1.0, 1.0)]
    failed = check(frozen, hits, 0.75)
    assert not failed.passed and failed.measured == 0.25
    assert "requests 3, 4, 5 were prefilled (nearly) from scratch" in failed.message


def test_driver_serves_the_engine_and_replays_a_trace() -> None:
    prefix_model = practical_module(PRACTICAL, "prefix_model.py")
    reference = practical_module(PRACTICAL, "reference.py")
    endpoints = prefix_model.serve(reference, None)
    endpoints["start"](prefix_model.SHARED_BUDGET_BYTES, "timed")
    trace = prefix_model.shared_prefix_trace(5)[:6]
    served = [endpoints["prefill"](prompt) for prompt in trace]
    replayed = endpoints["replay"](trace)
    model = prefix_model.build_model()
    for prompt, one, two in zip(trace, served, replayed, strict=True):
        expected = prefix_model.forward_with_past(model, prompt)[0]
        torch.testing.assert_close(one, expected, rtol=0, atol=1e-3)
        torch.testing.assert_close(two, expected, rtol=0, atol=1e-3)
    assert 0 < endpoints["hit_rate"]() <= 1


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
    if name == "control:frozen_when_full":  # exact and within budget: only recency shows it
        not_timed = {"hit rate reported", "time to first token vs no caching"}
        assert failed_names(result) == {"recently used prefixes kept", *not_timed}


# A 128 MiB buffer filled at import, before the grader's first read of the process's memory,
# and an engine that never evicts and copies every prompt's KV into it: read as growth from that
# first read, it held nothing (red-teamed: it passed, "held at most -3.7 MiB").
ARENA_FILLED_AT_IMPORT = """from __future__ import annotations

import torch
from prefix_model import forward_with_past, kv_slice
from torch import Tensor

from quiz.lab.tinylm import TinyLM

_ARENA = torch.ones(128 * 2**20 // 4)  # resident from import on
_NEXT = [0]


def _store(t: Tensor) -> Tensor | None:
    n = t.numel()
    if _NEXT[0] + n > _ARENA.numel():
        return None
    view = _ARENA[_NEXT[0] : _NEXT[0] + n].view(t.shape)
    view.copy_(t)
    _NEXT[0] += n
    return view


class PrefixCachingEngine:
    def __init__(self, model: TinyLM, budget_bytes: int) -> None:
        self.model = model
        self.budget_bytes = budget_bytes  # ignored
        self.entries: list[tuple[list[int], list]] = []
        self.prompt_tokens = 0
        self.reused_tokens = 0
        _NEXT[0] = 0  # a fresh engine reuses the arena from the start

    @torch.inference_mode()
    def prefill(self, prompt: Tensor) -> Tensor:
        toks = prompt.tolist()
        best, best_kv = 0, None
        for etoks, kv in self.entries:
            n = min(len(etoks), len(toks) - 1)
            s = 0
            while s < n and etoks[s] == toks[s]:
                s += 1
            if s > best:
                best, best_kv = s, kv
        past = kv_slice(best_kv, best) if best else None
        logits, kv = forward_with_past(self.model, prompt[best:], past)
        self.prompt_tokens += len(toks)
        self.reused_tokens += best
        stored = []
        for k, v in kv:
            sk, sv = _store(k), _store(v)
            if sk is None or sv is None:
                _NEXT[0] = 0
                self.entries.clear()  # arena full: start over
                return logits
            stored.append((sk, sv))
        self.entries.append((toks, stored))
        return logits

    def hit_rate(self) -> float:
        return self.reused_tokens / self.prompt_tokens if self.prompt_tokens else 0.0
"""


@pytest.mark.slow
def test_a_buffer_set_aside_at_import_counts_against_the_budget(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(ARENA_FILLED_AT_IMPORT, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert result.error is None, result.error
    assert "budget never exceeded" in failed_names(result), failed_checks(result)


@pytest.mark.slow
def test_a_cache_kept_in_module_globals_counts_against_the_budget(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(MODULE_GLOBAL_CACHE, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert result.error is None, result.error
    assert "budget never exceeded" in failed_names(result), failed_checks(result)
    message = next(c.message for c in result.checks if c.name == "budget never exceeded")
    assert "globals included" in message


# Ignores budget_bytes and never evicts: one KV per distinct prefix, kept forever, trimmed to the
# shared part on its first reuse (so the shared-prefix trace stays small). Red-teamed against
# the 5-prefix eviction trace, whose prefixes all fitted in the (then) 8 MiB allowance for
# allocator noise: it passed every check.
NEVER_EVICTS = """import torch
from prefix_model import forward_with_past, kv_slice
from torch import Tensor


class PrefixCachingEngine:
    def __init__(self, model, budget_bytes: int) -> None:
        self.model = model
        self.entries: list[list] = []  # [tokens, kv, trimmed]
        self.hit = 0
        self.total = 0

    @torch.inference_mode()
    def prefill(self, prompt: Tensor) -> Tensor:
        best, best_n = None, 0
        for e in self.entries:
            toks = e[0]
            n = min(toks.numel(), prompt.numel() - 1)
            d = (toks[:n] != prompt[:n]).nonzero()
            lcp = n if d.numel() == 0 else int(d[0, 0])
            if lcp > best_n:
                best, best_n = e, lcp
        self.total += prompt.numel()
        if best is None or best_n < 32:
            logits, kv = forward_with_past(self.model, prompt)
            self.entries.append([prompt.clone(), kv, False])
            return logits
        self.hit += best_n
        past = kv_slice(best[1], best_n)
        logits, _ = forward_with_past(self.model, prompt[best_n:], past)
        if not best[2] or best_n < best[0].numel():
            best[1] = [(k.clone(), v.clone()) for k, v in past]
            best[0] = best[0][:best_n].clone()
            best[2] = True
        return logits

    def hit_rate(self) -> float:
        return self.hit / max(1, self.total)
"""


@pytest.mark.slow
def test_an_engine_that_never_evicts_exceeds_the_budget(tmp_path: Path) -> None:
    (tmp_path / "solution.py").write_text(NEVER_EVICTS, encoding="utf-8")
    result = grade_practical(PRACTICAL, tmp_path, source="path")
    assert result.error is None, result.error
    # A grade already failed is not timed (it ends sooner), so what the timing backs is not passed.
    not_timed = {"hit rate reported", "time to first token vs no caching"}
    assert failed_names(result) == {"budget never exceeded", *not_timed}, failed_checks(result)
    message = next(c.message for c in result.checks if c.name == "budget never exceeded")
    assert message.startswith("eviction trace"), message
    for check in result.checks:
        assert (check.name in not_timed) == check.message.startswith("not timed"), check
