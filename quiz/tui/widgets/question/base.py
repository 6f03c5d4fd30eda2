"""What every answer widget offers the screen that holds it."""

from __future__ import annotations

from textual.message import Message


class AnswerSubmitted(Message):
    """The user asked to submit the answer (enter, ctrl+s)."""


class AnswerInput:
    """Mixin: ``answer_text()`` is the answer as the graders read it ("B", "A,C", "2 GiB", text)."""

    def answer_text(self) -> str:
        raise NotImplementedError
