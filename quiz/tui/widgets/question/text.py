"""Answers typed as text: a number with a unit, a Fermi estimate, or free prose."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets import Input, Static, TextArea

from quiz.tui.widgets.question.base import AnswerInput, AnswerSubmitted
from quiz.units import PLAIN_NUMBER_FORMS


class NumberAnswer(AnswerInput, Vertical):
    """One line: ``2 GiB``, ``350 ms`` or a plain number read in the unit shown."""

    def __init__(self, unit: str, *, estimate: bool) -> None:
        super().__init__(id="answer")
        self.unit = "" if unit == "count" else unit  # a count is answered as a plain number
        self.estimate = estimate

    def compose(self) -> ComposeResult:
        example = f"e.g. 12 {self.unit}, or 24/2 {self.unit}" if self.unit else "e.g. 0.4 or 2/5"
        yield Input(placeholder=example, id="answer-input")
        if self.unit:
            hint = f"Unit: {self.unit} (another unit of the same kind works too)."
        else:
            hint = f"A plain number: {PLAIN_NUMBER_FORMS} all work."
        if self.estimate:
            hint += " An estimate: within 2× is full credit, 10× off is none."
        yield Static(hint, classes="hint", markup=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(AnswerSubmitted())

    def answer_text(self) -> str:
        return self.query_one(Input).value.strip()

    def focus(self, scroll_visible: bool = True) -> NumberAnswer:
        self.query_one(Input).focus(scroll_visible)
        return self


class DetachSafeTextArea(TextArea):
    """A TextArea that paints nothing once removed. Textual 8 can paint a just-removed TextArea
    one last time, after its component styles were cleared, and that raised
    ``KeyError: 'text-area--gutter'`` and ended the app when a question was replaced."""

    def render_lines(self, crop: Region) -> list[Strip]:
        if not self.is_attached:
            return [Strip.blank(crop.width)] * crop.height
        return super().render_lines(crop)


class ProseAnswer(AnswerInput, Vertical):
    """A multi-line editor; ``ctrl+s`` submits (enter is a new line)."""

    BINDINGS = [Binding("ctrl+s", "submit", "Submit", id="prose.submit")]

    def __init__(self) -> None:
        super().__init__(id="answer")

    def compose(self) -> ComposeResult:
        yield DetachSafeTextArea(id="answer-text", soft_wrap=True)
        yield Static("Write your answer; ctrl+s submits.", classes="hint")

    def action_submit(self) -> None:
        self.post_message(AnswerSubmitted())

    def answer_text(self) -> str:
        return self.query_one(TextArea).text.strip()

    def focus(self, scroll_visible: bool = True) -> ProseAnswer:
        self.query_one(TextArea).focus(scroll_visible)
        return self
