"""Choice: one right option, typed loosely."""

from __future__ import annotations

from pathlib import Path

import pytest

from quiz.bank import instantiate, load_bank
from quiz.errors import AnswerFormatError
from quiz.grading import Verdict, grade
from tests.bank_helpers import written_order_seed

BANK = load_bank([Path(__file__).parent / "fixtures" / "bank" / "good"])
DECODE = instantiate(
    BANK.get("decode-bound"), written_order_seed(BANK.get("decode-bound"))
)  # options A-D, key B


@pytest.mark.parametrize("answer", ["B", "b", " B ", "B.", "b)"])
def test_the_right_option_however_typed(answer: str) -> None:
    assert grade(DECODE, answer) == Verdict(1.0, True, "Correct.", "B (Memory bandwidth)")


def test_a_wrong_option_scores_zero_and_names_the_key() -> None:
    verdict = grade(DECODE, "a")
    assert (verdict.score, verdict.correct) == (0.0, False)
    assert verdict.feedback == "You picked A; the answer is B."
    assert verdict.expected == "B (Memory bandwidth)"


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("E", r"^'E' is not an option \(options: A, B, C, D\)$"),
        ("memory", "'MEMORY' is not an option"),
        ("A,B", "^pick one option"),
        ("", "empty"),
        ("  ", "empty"),
    ],
)
def test_unreadable_answers(answer: str, message: str) -> None:
    with pytest.raises(AnswerFormatError, match=message):
        grade(DECODE, answer)
