"""kv-cache: the reference passes; the starter and every control fail; graded through the real
runner and worker. The fast tests check the reference against full recompute and the formula."""

from __future__ import annotations

import pytest
import torch

from quiz.lab.catalog import get_practical
from quiz.lab.runner import grade_practical
from quiz.lab.tinylm import generate_full_recompute, tensor_bytes
from tests.lab_fixtures import failed_checks, practical_module, shipped_files

PRACTICAL = "kv-cache"
FILES = shipped_files(PRACTICAL)
FAILING = [name for name in FILES if name != "reference"]


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
    expected = 2 * 1 * 2 * 32 * 4 * (prompt_len + 24 - 1)  # 1 layer, 2 KV heads of 32
    assert cache.nbytes() == tensor_bytes(cache, exclude=model) == expected


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
