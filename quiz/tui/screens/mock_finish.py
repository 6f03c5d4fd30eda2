"""Asked before a mock interview is finished early: the answer on screen (if any) is submitted,
and the questions after it count as unanswered (score 0), as they would when time runs out."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class FinishNowModal(ModalScreen[bool]):
    """Dismisses with True to finish the interview now, False to go on."""

    DEFAULT_CSS = """
    FinishNowModal { align: center middle; }
    #finish-box { width: 70; max-width: 95%; height: auto; border: thick $warning;
                  background: $surface; padding: 1 2; }
    #finish-box Horizontal { height: auto; margin-top: 1; }
    #finish-box Button { margin-right: 1; }
    """

    AUTO_FOCUS = "#keep-going"  # enter on the prompt goes on; finishing takes f or a click

    BINDINGS = [
        Binding("f", "choose(True)", "Finish now", id="mock_finish.finish"),
        Binding("escape", "choose(False)", "Keep going", id="mock_finish.keep_going"),
    ]

    def __init__(self, unreached: int, remaining: str) -> None:
        super().__init__()
        self.unreached = unreached
        self.remaining = remaining

    def compose(self) -> ComposeResult:
        after = (
            f"the {self.unreached} question{'s' if self.unreached != 1 else ''} after it "
            "count as unanswered (0) in the score"
            if self.unreached
            else "it is the last question"
        )
        with Vertical(id="finish-box"):
            yield Static("Finish the interview now?", classes="section-title")
            yield Static(
                f"{self.remaining} left on the clock. The answer on screen, if any, is submitted and "
                f"{after}; then the report.",
                markup=False,
            )
            with Horizontal():
                yield Button("Finish now (f)", id="finish", variant="warning")
                yield Button("Keep going (esc)", id="keep-going", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "finish")

    def action_choose(self, finish: bool) -> None:
        self.dismiss(finish)
