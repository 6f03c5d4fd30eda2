"""Select all that apply: partial credit, and every wrong pick cancels a right one."""

from __future__ import annotations

from quiz.bank import Instance
from quiz.grading.option_ids import describe, key_ids, read_ids
from quiz.grading.verdict import Verdict


def grade(instance: Instance, answer: str) -> Verdict:
    picked = list(dict.fromkeys(read_ids(answer, instance)))
    key = key_ids(instance)
    right = [i for i in picked if i in key]
    wrong = [i for i in picked if i not in key]
    missed = [i for i in key if i not in picked]
    score = max(0.0, (len(right) - len(wrong)) / len(key))
    correct = not wrong and not missed
    if correct:
        feedback = "Correct: exactly the right options."
    else:
        parts = [f"{len(right)} of {len(key)} right options picked"]
        if wrong:
            parts.append(f"wrong picks (each cancels a right one): {', '.join(wrong)}")
        if missed:
            parts.append(f"missed: {', '.join(missed)}")
        feedback = "; ".join(parts) + "."
    return Verdict(score, correct, feedback, describe(key, instance))
