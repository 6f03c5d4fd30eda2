"""Multi: partial credit where every wrong pick cancels a right one."""

from __future__ import annotations

from pathlib import Path

import pytest

from quiz.bank import instantiate, load_bank
from quiz.errors import AnswerFormatError
from quiz.grading import grade
from tests.bank_helpers import written_order_seed

BANK = load_bank([Path(__file__).parent / "fixtures" / "bank" / "good"])
LEVERS = instantiate(
    BANK.get("kv-cache-levers"), written_order_seed(BANK.get("kv-cache-levers"))
)  # options A-D, key A, B, D


@pytest.mark.parametrize("answer", ["A,B,D", "a b d", "D, A, B", "ABD", "a;b;d", "A, B, D, A"])
def test_exactly_the_right_options_however_typed(answer: str) -> None:
    verdict = grade(LEVERS, answer)
    assert (verdict.score, verdict.correct) == (1.0, True)


@pytest.mark.parametrize(
    ("answer", "score"),
    [
        ("A,B", 2 / 3),  # two of three right
        ("A", 1 / 3),
        ("A,B,C", 1 / 3),  # the wrong pick cancels a right one
        ("A,C", 0.0),
        ("C", 0.0),  # clamped at zero, never negative
        ("A,B,C,D", 2 / 3),  # picking everything is not a free full score
    ],
)
def test_partial_credit(answer: str, score: float) -> None:
    verdict = grade(LEVERS, answer)
    assert verdict.score == pytest.approx(score)
    assert verdict.correct is False


def test_feedback_names_wrong_and_missed_options() -> None:
    verdict = grade(LEVERS, "A,C")
    assert verdict.feedback == (
        "1 of 3 right options picked; wrong picks (each cancels a right one): C; missed: B, D."
    )
    assert verdict.expected == "A (Grouped-query attention), B (FP8 KV cache), D (Fewer layers)"


@pytest.mark.parametrize("answer", ["A,E", "A,B,X", ",", "all of them"])
def test_unknown_ids_are_a_format_error(answer: str) -> None:
    with pytest.raises(AnswerFormatError):
        grade(LEVERS, answer)
