"""A question as asked: a line of facts, the prompt as Markdown, and the answer widget."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Markdown, Static

from quiz.tui.widgets.home.phase_card import PHASE_NAMES
from quiz.tui.widgets.question.base import AnswerInput
from quiz.tui.widgets.question.factory import answer_widget, key_hint

if TYPE_CHECKING:
    from quiz.bank import Instance


def format_seconds(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}:{seconds % 60:02d}"


class QuestionView(Vertical):
    """``number`` of ``total``; ``budget`` shows the question's soft time budget;
    ``work_practical`` puts a practical's workspace and grade here instead of a pointer."""

    def __init__(
        self,
        instance: Instance,
        number: int,
        total: int,
        *,
        budget: bool,
        work_practical: bool = False,
    ) -> None:
        super().__init__(id="question")
        self.instance = instance
        self.number = number
        self.total = total
        self.budget = budget
        self.work_practical = work_practical

    def compose(self) -> ComposeResult:
        instance = self.instance
        facts = [
            f"Question {self.number}/{self.total}",
            PHASE_NAMES.get(instance.phase, instance.phase),
            instance.level,
            instance.topic,
            instance.kind,
        ]
        if self.budget:
            facts.append(f"budget {format_seconds(instance.time_budget_s)}")
        yield Static(" · ".join(facts), id="question-facts", markup=False)
        title = getattr(instance, "title", "")
        if title:
            yield Static(title, id="question-title", markup=False)
        yield Markdown(instance.prompt, id="prompt")
        yield answer_widget(instance, work_practical=self.work_practical)
        hint = key_hint(instance)
        if hint is not None:
            yield hint

    @property
    def answer(self) -> Widget:
        return self.query_one("#answer")

    def answer_text(self) -> str:
        """The answer as the graders read it; "" for a question answered elsewhere (a practical)."""
        answer = self.answer if self.query("#answer") else None
        return answer.answer_text() if isinstance(answer, AnswerInput) else ""

    @property
    def answerable(self) -> bool:
        return bool(self.query("#answer")) and isinstance(self.answer, AnswerInput)

    def freeze(self, frozen: bool = True) -> None:
        if self.query("#answer"):
            self.answer.disabled = frozen
        for hint in self.query("#answer-keys"):
            hint.display = not frozen

    def focus_answer(self) -> None:
        for widget in self.query("#answer, #answer-practical"):
            widget.focus()
