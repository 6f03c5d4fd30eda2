"""The app: global keys, navigation between screens, and the backend opened in a worker.

The home screen is shown at once; loading the bank and opening (migrating, syncing) the database
happen in a thread worker, and screens fill in when ``backend_ready`` turns true.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from quiz.tui.backend import Backend
from quiz.tui.clock import Clock, system_clock
from quiz.tui.screens.base import report_error
from quiz.tui.screens.home import HomeScreen


@dataclass(frozen=True)
class StartMock:
    """Open the app straight into a mock interview (``latency-quiz mock``)."""

    level: str = "L2"
    minutes: int = 30
    practice_mode: bool = False


class LatencyQuizApp(App[int]):
    """latency-quiz: practice, mock interviews, progress and practicals."""

    CSS_PATH = "app.tcss"
    TITLE = "latency-quiz"
    SUB_TITLE = "interview prep for AI latency engineers"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True, show=False),
        Binding("q", "quit", "Quit", id="app.quit_q"),
        Binding("question_mark,f1", "help", "Help", id="app.help", key_display="?"),
    ]

    backend_ready: reactive[bool] = reactive(False)
    backend_error: reactive[str] = reactive("")

    class BackendOpened(Message):
        """The bank is loaded and the database is open and synced."""

    def __init__(self, backend: Backend, *, start: StartMock | None = None) -> None:
        super().__init__()
        self.backend = backend
        self.start = start

    @property
    def clock(self) -> Clock:
        return self.backend.clock

    def on_mount(self) -> None:
        self.push_screen(HomeScreen())
        self.open_backend()

    @work(thread=True, exclusive=True, exit_on_error=False, group="backend")
    def open_backend(self) -> None:
        self.backend.open()
        self.post_message(self.BackendOpened())

    def on_latency_quiz_app_backend_opened(self) -> None:
        self.backend_ready = True
        self.sub_title = f"signed in as {self.backend.store.user}"
        if self.start is not None:
            from quiz.tui.screens.mock import MockScreen

            start = self.start
            self.push_screen(
                MockScreen(
                    level=start.level, minutes=start.minutes, practice_mode=start.practice_mode
                )
            )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        report_error(self, event)
        if event.worker.group == "backend" and event.state == WorkerState.ERROR:
            self.backend_error = str(event.worker.error)

    # Navigation: top-level screens sit directly on the home screen, so the stack stays shallow.
    def goto(self, screen: Screen[Any]) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.push_screen(screen)

    def action_home(self) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()

    def action_practice(self, due_first: bool = False) -> None:
        from quiz.tui.screens.practice_setup import PracticeSetupScreen

        self.goto(PracticeSetupScreen(due_first=due_first))

    def action_mock(self) -> None:
        from quiz.tui.screens.mock_setup import MockSetupScreen

        self.goto(MockSetupScreen())

    def action_resume_mock(self, session_id: int) -> None:
        from quiz.tui.screens.mock import MockScreen

        self.goto(MockScreen(resume_id=session_id))

    def action_progress(self) -> None:
        from quiz.tui.screens.progress import ProgressScreen

        self.goto(ProgressScreen())

    def action_practicals(self) -> None:
        from quiz.tui.screens.practicals import PracticalsScreen

        self.goto(PracticalsScreen())

    def action_plan(self) -> None:
        from quiz.tui.screens.plan import PlanScreen

        self.goto(PlanScreen())

    def action_browse(self) -> None:
        from quiz.tui.screens.browser import BrowserScreen

        self.goto(BrowserScreen())

    def action_help(self) -> None:
        from quiz.tui.screens.help import HelpScreen  # Markdown is slow to import: not at start

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit(self) -> None:
        """Quit from anywhere; screens with unsaved work store it first."""
        for screen in reversed(self.screen_stack):
            save = getattr(screen, "save_before_quit", None)
            if save is not None:
                save()
        self.exit(0)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield SystemCommand("Practice", "Practice questions with filters", self.action_practice)
        yield SystemCommand(
            "Practice due reviews",
            "Practice with due reviews first",
            lambda: self.action_practice(due_first=True),
        )
        yield SystemCommand("Mock interview", "Start a timed mock interview", self.action_mock)
        yield SystemCommand("Progress", "Accuracy, coverage and past mocks", self.action_progress)
        yield SystemCommand("Practicals", "Hands-on practicals graded here", self.action_practicals)
        yield SystemCommand(
            "Study plan", "See and set the plan and interview date", self.action_plan
        )
        yield SystemCommand(
            "Browse questions", "Search, filter, flag and suspend questions", self.action_browse
        )
        yield SystemCommand("Home", "Back to the dashboard", self.action_home)
        yield SystemCommand("Help", "Keys and screens", self.action_help)
        yield from super().get_system_commands(screen)

    def on_unmount(self) -> None:
        self.backend.close()


def create_app(
    db_url: str | None = None,
    *,
    clock: Clock | None = None,
    start_screen: StartMock | None = None,
    bank_paths: Sequence[str | Path] | None = None,
    seed: int | None = None,
) -> LatencyQuizApp:
    """The app over the database at ``db_url`` (default: quiz.config's) and the shipped bank
    (or the question files ``bank_paths``). ``clock`` drives mock-interview time, ``seed``
    makes the questions drawn reproducible, ``start_screen`` opens straight into a mock."""
    backend = Backend(db_url, clock=clock or system_clock, bank_paths=bank_paths, seed=seed)
    return LatencyQuizApp(backend, start=start_screen)


def run_app(db_url: str | None = None, *, start_screen: StartMock | None = None) -> int:
    """Run the app in the terminal; returns the exit code (1 when the app crashed)."""
    app = create_app(db_url, start_screen=start_screen)
    app.run()
    return app.return_code or 0
