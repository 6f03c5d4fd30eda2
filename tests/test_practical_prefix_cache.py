"""prefix-cache: the reference passes; the starter and every control fail; graded through the
real runner and worker. The fast tests replay a trace through the reference engine and check the
traces and their ideal hit rate."""

from __future__ import annotations

import pytest
import torch

from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from quiz.lab.tinylm import tensor_bytes
from tests.lab_fixtures import failed_checks, practical_module, shipped_files

PRACTICAL = "prefix-cache"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]


def test_has_enough_controls_and_a_three_hint_readme() -> None:
    practical = get_practical(PRACTICAL)
    assert len(practical.controls) >= 3
    assert len(practical.hints) == 3
    for control in practical.controls:
        assert control.read_text().startswith("# "), f"{control.name} must say what it gets wrong"


def test_reference_engine_is_exact_and_stays_within_budget() -> None:
    prefix_model = practical_module(PRACTICAL, "prefix_model.py")
    reference = practical_module(PRACTICAL, "reference.py")
    model = prefix_model.build_model()
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
    sizes = [
        p.numel() * prefix_model.CONFIG.kv_bytes_per_token() for p in prefix_model.eviction_trace(3)
    ]
    assert 2 * max(sizes) <= prefix_model.EVICTION_BUDGET_BYTES < sum(sizes) / 4


def test_ideal_hit_rate_counts_the_longest_earlier_prefix() -> None:
    prefix_model = practical_module(PRACTICAL, "prefix_model.py")
    trace = [torch.tensor([1, 2, 3, 4]), torch.tensor([1, 2, 3, 9]), torch.tensor([1, 2, 3, 4])]
    # the second reuses 3 tokens; the third all but its last (3); 12 prompt tokens in all
    assert prefix_model.ideal_hit_rate(trace) == pytest.approx(6 / 12)


@pytest.mark.slow
def test_reference_passes() -> None:
    result = grade_practical(PRACTICAL, FILES["reference"], source="reference")
    assert result.passed, failed_checks(result)
    assert result.duration_s < 60


@pytest.mark.slow
@pytest.mark.parametrize("name", FAILING)
def test_starter_and_controls_fail(name: str) -> None:
    result = grade_practical(PRACTICAL, FILES[name], source=name)
    assert not result.passed, failed_checks(result)
    assert result.error is None, "a control must fail on its checks, not crash"
