"""After an answer: the verdict, the expected answer, the explanation and references; for free
text also the model answer and the self-rating buttons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Button, Markdown, Static

from quiz.bank.prose import unwrapped
from quiz.tui.widgets.question.self_check import SelfCheck

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.grading import Verdict

SELF_RATINGS = ("again", "hard", "good", "easy")


def verdict_text(score: float, correct: bool, *, unchecked: bool = False) -> Text:
    """``unchecked``: the grader was unsure and the user has not ticked the key points, so the
    score is provisional, not a verdict."""
    if unchecked:
        return Text(f"? Not sure — {score:.0%}, key points not checked", style="bold yellow")
    if correct:
        return Text(f"✓ Correct — score {score:.0%}", style="bold green")
    if score > 0:
        return Text(f"◐ Partly right — score {score:.0%}", style="bold yellow")
    return Text(f"✗ Not right — score {score:.0%}", style="bold red")


class SelfRated(Message):
    """The user rated their recall of a free-text answer."""

    def __init__(self, rating: str) -> None:
        super().__init__()
        self.rating = rating


class FeedbackPanel(Vertical):
    """Shown under the question once it is graded."""

    def __init__(self, instance: Instance, verdict: Verdict, *, ask_rating: bool) -> None:
        super().__init__(id="feedback")
        self.instance = instance
        self.verdict = verdict
        self.ask_rating = ask_rating

    def compose(self) -> ComposeResult:
        verdict = self.verdict
        if verdict.needs_self_check:
            unsure = f"? Not sure — {verdict.score:.0%} until you check the key points below"
            yield Static(Text(unsure, style="bold yellow"), id="verdict")
        else:
            yield Static(verdict_text(verdict.score, verdict.correct), id="verdict")
        is_short = self.instance.kind == "short"
        if verdict.feedback:
            yield Static(verdict.feedback, id="verdict-feedback", markup=False)
        if is_short:
            yield Static("Model answer", classes="section-title")
            yield Markdown(self.instance.model_answer or verdict.expected, id="model-answer")
            if verdict.needs_self_check:
                yield SelfCheck(self.instance, verdict)
        else:
            yield Static(
                Text.assemble(("Expected: ", "bold"), unwrapped(verdict.expected)), id="expected"
            )
        yield Static("Why", classes="section-title")
        yield Markdown(self.instance.explanation, id="explanation")
        references = "\n".join(f"- {ref}" for ref in self.instance.references)
        if references:
            yield Static("References", classes="section-title")
            yield Markdown(references, id="references")
        if self.ask_rating:
            yield Static("How well did you recall it? (1–4)", classes="section-title")
            with Horizontal(id="rating-buttons"):
                for number, rating in enumerate(SELF_RATINGS, start=1):
                    yield Button(f"{number} {rating.title()}", id=f"rate-{rating}")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id and event.button.id.startswith("rate-"):
            event.stop()
            self.post_message(SelfRated(event.button.id.removeprefix("rate-")))
