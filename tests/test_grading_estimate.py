"""Estimate: log-distance credit (2× full, 10× none), correct from a score of 0.5."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quiz.bank import instantiate, load_bank
from quiz.errors import AnswerFormatError
from quiz.grading import grade
from quiz.grading.estimate import score_for_factor

BANK = load_bank([Path(__file__).parent / "fixtures" / "bank" / "good"])
WEIGHTS = instantiate(BANK.get("llama-70b-weights-estimate"))  # about 140 GB


@pytest.mark.parametrize("answer", ["140 GB", "140", "70 GB", "280 GB", "0.2 TB", "130 GiB"])
def test_within_two_times_is_full_credit(answer: str) -> None:
    verdict = grade(WEIGHTS, answer)
    assert (verdict.score, verdict.correct) == (1.0, True)
    assert verdict.expected == "about 140 GB (full credit within 2×, none at 10× or more)"


@pytest.mark.parametrize("answer", ["1.4 TB", "14 GB", "5 TB", "1 GB"])
def test_ten_times_or_more_off_is_no_credit(answer: str) -> None:
    verdict = grade(WEIGHTS, answer)
    assert (verdict.score, verdict.correct) == (0.0, False)
    assert "10× or more away earns nothing" in verdict.feedback


def test_between_two_and_ten_times_is_linear_in_log() -> None:
    midpoint = 2 * math.sqrt(5)  # halfway between 2× and 10× on a log scale
    assert grade(WEIGHTS, f"{140 * midpoint} GB").score == pytest.approx(0.5)
    assert grade(WEIGHTS, f"{140 / midpoint} GB").score == pytest.approx(0.5)
    verdict = grade(WEIGHTS, "560 GB")  # 4x
    assert verdict.score == pytest.approx(1 - math.log(2) / math.log(5))
    assert verdict.correct is True
    assert verdict.feedback == "560 GB is 4.0× too high: partial credit (57%)."
    assert grade(WEIGHTS, "700 GB").correct is False  # 5x: score 0.43


@given(st.floats(min_value=1.0, max_value=100.0), st.floats(min_value=1.0, max_value=100.0))
def test_score_never_rises_as_the_estimate_gets_worse(a: float, b: float) -> None:
    near, far = sorted((a, b))
    assert 0.0 <= score_for_factor(far) <= score_for_factor(near) <= 1.0


def test_non_positive_estimates_score_zero() -> None:
    for answer in ("0", "-140 GB"):
        verdict = grade(WEIGHTS, answer)
        assert (verdict.score, verdict.correct) == (0.0, False)
        assert verdict.feedback == "An estimate of an amount must be positive."


def test_wrong_dimension_is_a_format_error() -> None:
    with pytest.raises(AnswerFormatError, match="asks for a size"):
        grade(WEIGHTS, "140 ms")
