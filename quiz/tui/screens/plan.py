"""The study plan: where it stands (week, phase, on track or not), and setting its start and
interview dates, with a warning when the time left is shorter than the roadmap."""

from __future__ import annotations

from datetime import date
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Input, Label, Static

from quiz.errors import QuizError
from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader


def plan_text(plan: dict[str, Any]) -> Text:
    """The plan in words (the CLI's sentence) with its warning in the warning colour."""
    from quiz.study.report import plan_sentence

    if not plan.get("start"):
        return Text("No plan yet: set a start and your interview date below.")
    sentence = plan_sentence({**plan, "warning": None})
    text = Text(sentence)
    if plan.get("warning"):
        text.append(f"\nWarning: {plan['warning']}", style="bold yellow")
    return text


class PlanScreen(QuizScreen):
    """ctrl+s saves the dates (YYYY-MM-DD)."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="plan.back"),
        Binding("ctrl+s", "save", "Save plan", id="plan.save"),
    ]

    class Loaded(Message):
        def __init__(self, plan: dict[str, Any], *, saved: bool = False) -> None:
            super().__init__()
            self.plan = plan
            self.saved = saved

    def compose(self) -> ComposeResult:
        yield QuizHeader()
        with VerticalScroll(id="setup-body"):
            yield Static("", id="plan-status")
            yield Static("Dates (YYYY-MM-DD)", classes="section-title")
            with Horizontal(classes="plan-row"):
                yield Label("Start", classes="plan-label")
                yield Input(placeholder="YYYY-MM-DD", id="plan-start")
            with Horizontal(classes="plan-row"):
                yield Label("Interview", classes="plan-label")
                yield Input(placeholder="YYYY-MM-DD", id="plan-interview")
            yield Static(
                "The roadmap's phases are fitted between the two dates; reviews stop before "
                "the interview day and the last week puts your weakest topics first.",
                classes="hint",
            )
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="plan-save", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Study plan"
        self.when_backend_ready(self.load)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def load(self) -> None:
        self.post_message(self.Loaded(self.backend.progress()["plan"]))

    def on_plan_screen_loaded(self, message: Loaded) -> None:
        plan = message.plan
        self.query_one("#plan-status", Static).update(plan_text(plan))
        start, interview = (
            self.query_one("#plan-start", Input),
            self.query_one("#plan-interview", Input),
        )
        if plan.get("start") and not start.value and not interview.value:
            start.value, interview.value = plan["start"], plan["interview"]
        if not start.value:
            start.value = self.quiz_app.clock().date().isoformat()
        interview.focus()
        if message.saved:
            self.notify("Plan saved.", timeout=3)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "plan-save":
            self.action_save()

    def on_input_submitted(self) -> None:
        self.action_save()

    def action_save(self) -> None:
        from quiz.study.plan import parse_date

        dates: list[date] = []
        for field, label in (("#plan-start", "Start"), ("#plan-interview", "Interview")):
            entry = self.query_one(field, Input)
            text = entry.value.strip()
            try:
                dates.append(parse_date(text))
            except QuizError as err:  # not a date: which field, and the one-line reason
                reason = str(err) if text else "empty (use YYYY-MM-DD)"
                self.notify(
                    f"{label} date: {reason}", title="Can't save the plan", severity="error"
                )
                entry.focus()
                return
        self.save_plan(*dates)

    @work(thread=True, exclusive=True, exit_on_error=False, group="plan")
    def save_plan(self, start: date, interview: date) -> None:
        self.backend.set_plan(start, interview)
        self.post_message(self.Loaded(self.backend.progress()["plan"], saved=True))
