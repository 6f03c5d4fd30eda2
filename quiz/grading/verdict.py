"""What grading one answer says."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    score: float  # 0..1
    correct: bool
    feedback: str  # what was right or wrong about this answer
    expected: str  # the key, readable by a person
