"""The loaded question bank: questions by id, in file order."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator

from quiz.bank.schema import KINDS, LEVELS, PHASES, TOPICS, Question
from quiz.errors import NotFoundError, UsageError


class Bank:
    def __init__(self, questions: Iterable[Question]) -> None:
        self.questions: dict[str, Question] = {q.id: q for q in questions}

    def __len__(self) -> int:
        return len(self.questions)

    def __iter__(self) -> Iterator[Question]:
        return iter(self.questions.values())

    def __contains__(self, question_id: object) -> bool:
        return question_id in self.questions

    def get(self, question_id: str) -> Question:
        """The question ``question_id``; NotFoundError (with a suggestion) if there is none."""
        try:
            return self.questions[question_id]
        except KeyError:
            near = difflib.get_close_matches(question_id, self.questions, n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise NotFoundError(f"unknown question id '{question_id}'{hint}") from None

    def filter(
        self,
        phase: str | None = None,
        level: str | None = None,
        topic: str | None = None,
        kind: str | None = None,
    ) -> list[Question]:
        """Questions matching every given criterion, in file order (UsageError for a value that
        is not a phase, level, topic or kind at all)."""
        wanted = {"phase": phase, "level": level, "topic": topic, "kind": kind}
        known = {"phase": PHASES, "level": LEVELS, "topic": TOPICS, "kind": KINDS}
        for name, value in wanted.items():
            if value is not None and value not in known[name]:
                raise UsageError(f"unknown {name} '{value}' (one of: {', '.join(known[name])})")
        return [
            q
            for q in self.questions.values()
            if all(value is None or getattr(q, name) == value for name, value in wanted.items())
        ]

    def content_hash(self, question_id: str) -> str:
        """A stable hash of the question's content: it changes exactly when its text does."""
        return self.get(question_id).content_hash()

    def topics(self) -> list[str]:
        """The topics the bank's questions use, in the documented order."""
        used = {q.topic for q in self.questions.values()}
        return [topic for topic in TOPICS if topic in used]
