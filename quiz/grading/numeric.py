"""A number with a unit, right within a relative or absolute tolerance."""

from __future__ import annotations

from quiz.bank import Instance
from quiz.grading.quantities import how_far, numeric_key, read_answer, shown
from quiz.grading.verdict import Verdict
from quiz.units import format_number

_FLOAT_SLACK = 1e-9  # so that an exact answer is never lost to rounding in unit conversion


def grade(instance: Instance, answer: str) -> Verdict:
    key = numeric_key(instance)
    reading = read_answer(instance, answer)
    given = reading.value
    if key.relative is not None:
        allowed = key.relative * abs(key.value)
        tolerance = f"±{format_number(key.relative * 100)}%"
    else:
        allowed = key.absolute or 0.0
        tolerance = f"±{shown(allowed, instance)}"
    expected = f"{shown(key.value, instance)} ({tolerance})"
    if abs(given - key.value) <= allowed + _FLOAT_SLACK * max(abs(key.value), 1.0):
        correct = f"Correct: {shown(given, instance)} is within {tolerance}."
        return Verdict(1.0, True, _with_note(reading.note, correct), expected)
    feedback = (
        f"{shown(given, instance)} is {how_far(given, key.value, key.unit)}; the key is {expected}."
    )
    return Verdict(0.0, False, _with_note(reading.note, feedback), expected)


def _with_note(note: str, feedback: str) -> str:
    return f"{note} {feedback}" if note else feedback
