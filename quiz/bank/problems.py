"""A problem in a question file, and the error that carries all of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from quiz.errors import QuizError


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


class BankError(QuizError):
    """The question bank has problems; ``problems`` lists every one."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        first = f"; first: {self.problems[0]}" if self.problems else ""
        super().__init__(
            f"the question bank has {count} {noun} (`latency-quiz bank validate` lists them)"
            + first
        )
