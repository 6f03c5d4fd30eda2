"""One right option."""

from __future__ import annotations

from quiz.bank import Instance
from quiz.errors import AnswerFormatError
from quiz.grading.option_ids import describe, option_ids, read_ids
from quiz.grading.verdict import Verdict


def grade(instance: Instance, answer: str) -> Verdict:
    ids = read_ids(answer, instance)
    if len(ids) != 1:
        raise AnswerFormatError(f"pick one option (options: {', '.join(option_ids(instance))})")
    key = str(instance.key)
    expected = describe([key], instance)
    if ids[0] == key:
        return Verdict(1.0, True, "Correct.", expected)
    return Verdict(0.0, False, f"You picked {ids[0]}; the answer is {key}.", expected)
