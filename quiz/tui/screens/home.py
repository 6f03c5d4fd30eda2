"""The dashboard: the three phases, due reviews, an unfinished mock, and the way to everything."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Static

from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.home.phase_card import PhaseCard

PHASES = ("foundations", "core", "advanced")


def bank_line(asked: int, practicals: int) -> str:
    """The bank's size, counted as ``doctor`` counts it (questions of every kind)."""
    if not asked + practicals:
        return "The question bank is empty."
    total = asked + practicals
    return (
        f"{total} question{'' if total == 1 else 's'} in the bank: {asked} to answer, "
        f"{practicals} practical{'' if practicals == 1 else 's'}"
    )


class HomeScreen(QuizScreen):
    """Where the app opens; it is interactive before the bank and database have loaded."""

    BINDINGS = [
        Binding("p", "app.practice", "Practice", id="home.practice"),
        Binding("d", "app.practice(True)", "Due", id="home.due"),
        Binding("m", "app.mock", "Mock", id="home.mock"),
        Binding("r", "resume", "Resume", id="home.resume"),
        Binding("g", "app.progress", "Progress", id="home.progress"),
        Binding("l", "app.practicals", "Lab", id="home.practicals"),
        Binding("b", "app.browse", "Browse", id="home.browse"),
        Binding("t", "app.plan", "Plan", id="home.plan"),
    ]

    class DashboardLoaded(Message):
        def __init__(self, progress: dict[str, Any], unfinished: list[dict[str, Any]]) -> None:
            super().__init__()
            self.progress = progress
            self.unfinished = unfinished

    def __init__(self) -> None:
        super().__init__()
        self.unfinished: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        yield QuizHeader()
        with VerticalScroll(id="home-body"):
            yield Static("Loading the question bank and your progress…", id="home-status")
            for phase in PHASES:
                yield PhaseCard(phase)
            yield Static("", id="home-plan")
            yield Static("", id="home-due")
            yield Static("", id="home-resume")
            with Horizontal(id="home-actions"):
                yield Button("Practice", id="go-practice", variant="primary")
                yield Button("Mock interview", id="go-mock")
                yield Button("Resume mock", id="go-resume", variant="warning", classes="hidden")
                yield Button("Progress", id="go-progress")
                yield Button("Practicals", id="go-practicals")
                yield Button("Browse", id="go-browse")
        yield Footer()

    def on_mount(self) -> None:
        self.when_backend_ready(self.load_dashboard)
        self.watch(self.app, "backend_error", self._show_backend_error)

    def _show_backend_error(self, error: str) -> None:
        if error:
            self.query_one("#home-status", Static).update(
                Text.assemble(("Could not start: ", "bold red"), error)
            )

    def on_screen_resume(self) -> None:
        if self.backend_ready:
            self.load_dashboard()

    @work(thread=True, exclusive=True, exit_on_error=False, group="dashboard")
    def load_dashboard(self) -> None:
        progress = self.backend.progress()
        unfinished = self.backend.unfinished_mocks()
        self.post_message(self.DashboardLoaded(progress, unfinished))

    def on_home_screen_dashboard_loaded(self, message: DashboardLoaded) -> None:
        phases = {p.get("id"): p for p in message.progress.get("phases", [])}
        for phase_id in PHASES:
            self.query_one(f"#phase-{phase_id}", PhaseCard).show(phases.get(phase_id, {}))
        kinds = [q.kind for q in self.backend.bank.questions.values()]
        practicals = kinds.count("practical")
        self.query_one("#home-status", Static).update(
            bank_line(len(kinds) - practicals, practicals)
        )
        from quiz.tui.screens.plan import plan_text

        plan = message.progress.get("plan") or {}
        plan_line = plan_text(plan) if plan.get("start") else "No study plan yet — press t."
        self.query_one("#home-plan", Static).update(plan_line)
        due = int(message.progress.get("due_reviews") or 0)
        self.query_one("#home-due", Static).update(
            f"[b]{due}[/b] review{'s' if due != 1 else ''} due — press [b]d[/b]"
            if due
            else "No reviews due."
        )
        self.unfinished = message.unfinished
        self.query_one("#home-resume", Static).update(self._resume_line())
        self.query_one("#go-resume").set_class(not self.unfinished, "hidden")
        self.refresh_bindings()

    def _resume_line(self) -> str:
        if not self.unfinished:
            return ""
        mock = self.unfinished[0]
        left = int(mock.get("remaining_s", 0))
        head = (
            f"Unfinished mock interview: {mock.get('level')}, {mock.get('answered', 0)}/"
            f"{mock.get('total', 0)} answered"
        )
        if left <= 0:
            return f"{head}; its time ran out while you were away — press [b]r[/b] for the report"
        paused = " (paused: practice mode)" if mock.get("practice_mode") else ""
        return f"{head}, {left // 60}:{left % 60:02d} left{paused} — press [b]r[/b]"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return bool(self.unfinished) if action == "resume" else True

    def action_resume(self) -> None:
        if self.unfinished:
            self.quiz_app.action_resume_mock(int(self.unfinished[0]["session_id"]))
        else:
            self.notify("No unfinished mock interview.")

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {
            "go-practice": "app.practice",
            "go-mock": "app.mock",
            "go-resume": "resume",
            "go-progress": "app.progress",
            "go-practicals": "app.practicals",
            "go-browse": "app.browse",
        }
        if event.button.id in actions:
            await self.run_action(actions[event.button.id])
