"""What every answer widget offers the screen that holds it."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.message import Message


class AnswerSubmitted(Message):
    """The user asked to submit the answer (enter, ctrl+s)."""


class AnswerInput:
    """Mixin: ``answer_text()`` is the answer as the graders read it ("B", "A,C", "2 GiB", text)."""

    def answer_text(self) -> str:
        raise NotImplementedError


def hanging_row(lead: Text, body: Text) -> Table:
    """``lead`` then ``body``, with the lines ``body`` wraps onto indented under its start, so a
    long option or step reads as one block beside its letter."""
    grid = Table.grid()
    grid.add_column(no_wrap=True)
    grid.add_column(ratio=1)
    grid.add_row(lead, body)
    return grid
