"""Order: Kendall-tau partial credit; every id exactly once."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from quiz.bank import instantiate, load_bank
from quiz.errors import AnswerFormatError
from quiz.grading import grade

BANK = load_bank([Path(__file__).parent / "fixtures" / "bank" / "good"])
STEPS = instantiate(BANK.get("serving-steps"), 3)
KEY = list(STEPS.key_json())  # ids in the right order
TEXT = {c.id: c.text for c in STEPS.choices}


def test_the_right_order_however_typed() -> None:
    for answer in (",".join(KEY), " ".join(KEY).lower(), "".join(KEY), ", ".join(KEY)):
        verdict = grade(STEPS, answer)
        assert (verdict.score, verdict.correct) == (1.0, True)
    assert verdict.expected == " → ".join(f"{i} ({TEXT[i]})" for i in KEY)


def test_one_adjacent_swap_loses_one_pair_of_six() -> None:
    swapped = [KEY[1], KEY[0], *KEY[2:]]
    verdict = grade(STEPS, ",".join(swapped))
    assert verdict.score == pytest.approx(5 / 6)
    assert verdict.correct is False
    # What was given is said beside the key: a user whose keys never reordered the steps saw
    # only "the order is ..." and read it as their own.
    assert verdict.feedback == (
        f"5 of 6 pairs in the right order: you gave {','.join(swapped)}; "
        f"the right order is {','.join(KEY)}."
    )


def test_the_reversed_order_scores_zero() -> None:
    assert grade(STEPS, ",".join(reversed(KEY))).score == 0.0


@given(st.permutations(KEY))
def test_score_is_the_share_of_pairs_in_order(answer: list[str]) -> None:
    rank = {item: KEY.index(item) for item in KEY}
    pairs = [(a, b) for i, a in enumerate(answer) for b in answer[i + 1 :]]
    in_order = sum(rank[a] < rank[b] for a, b in pairs)
    verdict = grade(STEPS, ",".join(answer))
    assert verdict.score == pytest.approx(in_order / 6)
    assert verdict.correct == (answer == KEY)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("A,B,C", r"give every id exactly once, like 'A,B,C,D' \(missing D\)"),
        ("A,B,C,D,A", r"\(repeated A\)"),
        ("A,B,C,C", r"\(missing D; repeated C\)"),
        ("A,B,C,E", "'E' is not an option"),
    ],
)
def test_every_id_exactly_once(answer: str, message: str) -> None:
    with pytest.raises(AnswerFormatError, match=message):
        grade(STEPS, answer)
