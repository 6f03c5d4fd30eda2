"""A Fermi estimate, graded on log-distance: within 2× full credit, 10× or more off none,
linear in log(factor) between. It counts as correct from a score of 0.5, i.e. within
2·√5 ≈ 4.5× of the reference: the right order of magnitude with a defensible chain of
reasoning, which is what an estimate question asks for."""

from __future__ import annotations

import math

from quiz.bank import Instance
from quiz.bank.schema import ESTIMATE_FULL_CREDIT, ESTIMATE_NO_CREDIT
from quiz.grading.quantities import how_far, numeric_key, read_answer, shown
from quiz.grading.verdict import Verdict

PASS_SCORE = 0.5


def score_for_factor(factor: float) -> float:
    """Credit for an estimate ``factor``× away from the reference (factor ≥ 1)."""
    if factor <= ESTIMATE_FULL_CREDIT:
        return 1.0
    if factor >= ESTIMATE_NO_CREDIT:
        return 0.0
    span = math.log(ESTIMATE_NO_CREDIT / ESTIMATE_FULL_CREDIT)
    return 1.0 - math.log(factor / ESTIMATE_FULL_CREDIT) / span


def grade(instance: Instance, answer: str) -> Verdict:
    key = numeric_key(instance)
    reading = read_answer(instance, answer)
    given = reading.value
    expected = (
        f"about {shown(key.value, instance)} (full credit within {ESTIMATE_FULL_CREDIT:g}×, "
        f"none at {ESTIMATE_NO_CREDIT:g}× or more)"
    )
    if given <= 0:
        return Verdict(0.0, False, "An estimate of an amount must be positive.", expected)
    factor = max(given / key.value, key.value / given)
    score = score_for_factor(factor)
    off = f"{shown(given, instance)} is {how_far(given, key.value, key.unit)}"
    if score == 1.0:
        feedback = (
            f"Good estimate: within {ESTIMATE_FULL_CREDIT:g}× of {shown(key.value, instance)}."
        )
    elif score > 0:
        feedback = f"{off}: partial credit ({score:.0%})."
    else:
        feedback = f"{off}: {ESTIMATE_NO_CREDIT:g}× or more away earns nothing."
    if reading.note:
        feedback = f"{reading.note} {feedback}"
    return Verdict(score, score >= PASS_SCORE, feedback, expected)
