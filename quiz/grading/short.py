"""Free text graded by a rubric: concepts (any accepted phrase counts) with weights, minus
penalties for listed misconceptions.

Text is compared as word stems: case, punctuation, hyphens, plurals and simple suffixes
(-s, -es, -ies, -ing, -ed, a final -e) do not matter, so "batches" matches "batching" and
"KV-caches" matches "kv cache". A phrase matches where its words appear consecutively.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from quiz.bank import Instance, Rubric
from quiz.errors import AnswerFormatError
from quiz.grading.verdict import Verdict

_WORD = re.compile(r"[a-z0-9]+")


def stem(word: str) -> str:
    """A crude, consistent stem: both the rubric and the answer go through it."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif word.endswith("sses") or (len(word) > 4 and word.endswith(("ches", "shes", "xes"))):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # "stopped" -> "stop"
            break
    if len(word) > 3 and word.endswith("e"):
        word = word[:-1]
    return word


def words(text: str) -> list[str]:
    return [stem(w) for w in _WORD.findall(text.lower())]


def contains(text_words: Sequence[str], phrase: str) -> bool:
    """True when the phrase's words appear consecutively in ``text_words``."""
    wanted = words(phrase)
    width = len(wanted)
    return any(
        list(text_words[i : i + width]) == wanted for i in range(len(text_words) - width + 1)
    )


def grade(instance: Instance, answer: str) -> Verdict:
    rubric = instance.key
    if not isinstance(rubric, Rubric):
        raise TypeError(f"{instance.question_id} has no rubric")
    if not answer.strip():
        raise AnswerFormatError("the answer is empty: write a few sentences")
    said = words(answer)
    matched = [c for c in rubric.concepts if any(contains(said, p) for p in c.phrases)]
    missing = [c for c in rubric.concepts if c not in matched]
    believed = [m for m in rubric.misconceptions if any(contains(said, p) for p in m.phrases)]
    total = sum(c.weight for c in rubric.concepts)
    raw = sum(c.weight for c in matched) / total - sum(m.penalty for m in believed)
    score = min(1.0, max(0.0, raw))
    parts = []
    if matched:
        parts.append("Covered: " + ", ".join(c.name for c in matched) + ".")
    if missing:
        parts.append("Missing: " + ", ".join(c.name for c in missing) + ".")
    parts += [f"Misconception: {m.note}" for m in believed]
    return Verdict(score, score >= rubric.pass_score, " ".join(parts), rubric.model)
