"""Choose a mock interview: target level and length."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Button, Checkbox, Footer, RadioSet, Static

from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.toggles import MarkedCheckbox, MarkedRadioButton

LEVEL_TITLES = {
    "L1": "L1 · Performance / ML Infrastructure Engineer (0–2 years)",
    "L2": "L2 · Senior Performance Engineer (2–5 years)",
    "L3": "L3 · Staff AI Performance Engineer (5–8 years)",
    "L4": "L4 · Principal / Head of AI Infrastructure Performance (8+ years)",
}
LENGTHS_MIN = (15, 30, 45, 60)


class MockSetupScreen(QuizScreen):
    """Level and length, then Start; the clock starts with the first question."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="mock_setup.back"),
        Binding("ctrl+s", "start", "Start", id="mock_setup.start", priority=True),
    ]

    def compose(self) -> ComposeResult:
        self.title = "New mock interview"
        yield QuizHeader()
        with VerticalScroll(id="setup-body"):
            yield Static(
                "Interview conditions: a wall-clock countdown (time away counts), a soft budget "
                "per question, no feedback until the report. Saved after every answer; "
                "resumable from the home screen.",
                classes="hint",
            )
            yield Static("Target level", classes="section-title")
            with RadioSet(id="mock-level"):
                for level, title in LEVEL_TITLES.items():
                    yield MarkedRadioButton(title, value=level == "L2", name=level)
            yield Static("Length", classes="section-title")
            with RadioSet(id="mock-minutes"):
                for minutes in LENGTHS_MIN:
                    yield MarkedRadioButton(
                        f"{minutes} minutes", value=minutes == 30, name=str(minutes)
                    )
            yield MarkedCheckbox(
                "Practice mode: leaving pauses the clock (the report says so)",
                id="mock-practice-mode",
            )
            with Horizontal(classes="buttons"):
                yield Button("Start the interview", variant="primary", id="start")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#mock-level", RadioSet).focus()  # the arrows pick a level at once

    def _chosen(self, selector: str) -> str:
        button = self.query_one(selector, RadioSet).pressed_button
        assert button is not None and button.name is not None  # one is pressed from the start
        return button.name

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()

    def action_start(self) -> None:
        from quiz.tui.screens.mock import MockScreen

        level, minutes = self._chosen("#mock-level"), int(self._chosen("#mock-minutes"))
        practice_mode = self.query_one("#mock-practice-mode", Checkbox).value
        self.app.switch_screen(
            MockScreen(level=level, minutes=minutes, practice_mode=practice_mode)
        )
