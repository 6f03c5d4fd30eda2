"""What grading one answer says."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PointStatus = Literal["covered", "missing", "contradicted"]
POINT_STATUSES: tuple[PointStatus, ...] = ("covered", "missing", "contradicted")


@dataclass(frozen=True)
class PointResult:
    """How a short answer stands on one key point."""

    text: str
    status: PointStatus
    weight: float = 1.0
    note: str = ""  # why a contradicting claim is wrong


@dataclass(frozen=True)
class Verdict:
    score: float  # 0..1
    correct: bool
    feedback: str  # what was right or wrong about this answer
    expected: str  # the key, readable by a person
    points: tuple[PointResult, ...] = ()  # short answers: one per key point
    needs_self_check: bool = False  # the grader is unsure: the user ticks the points
