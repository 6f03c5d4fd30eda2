"""Grading: pure functions from (instance, answer text) to a Verdict; no I/O, no clock, no DB."""

from __future__ import annotations

from collections.abc import Callable

from quiz.bank import Instance
from quiz.errors import AnswerFormatError
from quiz.grading import choice, estimate, multi, numeric, order, short
from quiz.grading.verdict import Verdict

_GRADERS: dict[str, Callable[[Instance, str], Verdict]] = {
    "choice": choice.grade,
    "multi": multi.grade,
    "numeric": numeric.grade,
    "estimate": estimate.grade,
    "order": order.grade,
    "short": short.grade,
}


def grade(instance: Instance, answer: str) -> Verdict:
    """Grade ``answer`` to ``instance``; AnswerFormatError when the answer cannot be read."""
    if instance.kind == "practical":
        raise AnswerFormatError(
            f"graded by its practical: run `latency-quiz practical grade {instance.practical}`"
        )
    if not answer.strip():
        raise AnswerFormatError("the answer is empty")
    return _GRADERS[instance.kind](instance, answer)


__all__ = ["Verdict", "grade"]
