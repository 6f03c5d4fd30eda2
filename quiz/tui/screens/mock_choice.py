"""Asked when a new mock interview is started while another is unfinished: resume it, or
abandon it (it is marked abandoned, never reported as timed out) and start the new one."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from quiz.tui.widgets.question.view import format_seconds

CHOICES = ("resume", "abandon", "cancel")


class ResumeOrAbandonModal(ModalScreen[str]):
    """Dismisses with "resume", "abandon" or "cancel"; ``unfinished`` is a resume candidate."""

    DEFAULT_CSS = """
    ResumeOrAbandonModal { align: center middle; }
    #choice-box { width: 70; max-width: 95%; height: auto; border: thick $warning;
                  background: $surface; padding: 1 2; }
    #choice-box Horizontal { height: auto; margin-top: 1; }
    #choice-box Button { margin-right: 1; }
    """

    BINDINGS = [
        Binding("r", "choose('resume')", "Resume it", id="mock_choice.resume"),
        Binding("a", "choose('abandon')", "Abandon it", id="mock_choice.abandon"),
        Binding("escape", "choose('cancel')", "Cancel", id="mock_choice.cancel"),
    ]

    def __init__(self, unfinished: dict[str, Any]) -> None:
        super().__init__()
        self.unfinished = unfinished

    def compose(self) -> ComposeResult:
        mock = self.unfinished
        with Vertical(id="choice-box"):
            yield Static("Another mock interview is unfinished", classes="section-title")
            yield Static(
                f"#{mock['session_id']}: {mock['level']}, {mock['minutes']} min, "
                f"{mock['answered']}/{mock['total']} answered, "
                f"{format_seconds(mock['remaining_s'])} left. One interview runs at a time: "
                "resume it, or abandon it (it is kept as abandoned) and start the new one.",
                markup=False,
            )
            with Horizontal():
                yield Button("Resume it (r)", id="resume", variant="primary")
                yield Button("Abandon it (a)", id="abandon", variant="error")
                yield Button("Cancel (esc)", id="cancel")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in CHOICES:
            self.dismiss(event.button.id)

    def action_choose(self, choice: str) -> None:
        self.dismiss(choice)
