"""Helpers for tests that want a question's options in the order they are written."""

from __future__ import annotations

from quiz.bank import Question, instantiate
from quiz.bank.schema import ChoiceQuestion, MultiQuestion


def written_order_seed(question: Question) -> int:
    """A seed whose shuffle happens to show the options in written order (A = first written)."""
    assert isinstance(question, ChoiceQuestion | MultiQuestion)
    written = list(question.choices)
    return next(
        seed
        for seed in range(10_000)
        if [c.text for c in instantiate(question, seed).choices] == written
    )
