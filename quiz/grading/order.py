"""Put items in order; partial credit is the share of pairs in the right relative order
(Kendall's tau rescaled to 0..1: a reversed order scores 0)."""

from __future__ import annotations

from itertools import combinations

from quiz.bank import Instance
from quiz.errors import AnswerFormatError
from quiz.grading.option_ids import describe, key_ids, option_ids, read_ids
from quiz.grading.verdict import Verdict


def grade(instance: Instance, answer: str) -> Verdict:
    given = read_ids(answer, instance)
    ids = option_ids(instance)
    missing = [i for i in ids if i not in given]
    repeated = sorted({i for i in given if given.count(i) > 1})
    if missing or repeated:
        problems = [f"missing {', '.join(missing)}"] if missing else []
        problems += [f"repeated {', '.join(repeated)}"] if repeated else []
        raise AnswerFormatError(
            f"give every id exactly once, like '{','.join(ids)}' ({'; '.join(problems)})"
        )
    key = key_ids(instance)
    position = {item: index for index, item in enumerate(given)}
    pairs = list(combinations(key, 2))
    in_order = sum(position[first] < position[second] for first, second in pairs)
    correct = tuple(given) == key
    feedback = (
        "Correct order."
        if correct
        else (
            f"{in_order} of {len(pairs)} pairs in the right order: you gave {','.join(given)}; "
            f"the right order is {','.join(key)}."
        )
    )
    return Verdict(in_order / len(pairs), correct, feedback, describe(key, instance, " → "))
