"""Choose what to practise: phase, level, topic, kind (or mixed), due reviews first."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Label, Select, Switch

from quiz.tui.backend import PracticeFilters
from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.home.phase_card import PHASE_NAMES

if TYPE_CHECKING:
    from quiz.bank import Instance

LEVELS = ("L1", "L2", "L3", "L4")
KINDS = ("choice", "multi", "numeric", "estimate", "order", "short")
ROUND_SIZES = (5, 10, 20)


class PracticeSetupScreen(QuizScreen):
    """Filters, then ``enter`` (or Start) draws a round of questions."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back", id="practice_setup.back"),
        Binding("ctrl+s", "start", "Start", id="practice_setup.start", priority=True),
    ]

    class RoundPicked(Message):
        def __init__(self, instances: list[Instance]) -> None:
            super().__init__()
            self.instances = instances

    def __init__(self, *, due_first: bool = False) -> None:
        super().__init__()
        self.due_first = due_first

    def compose(self) -> ComposeResult:
        self.title = "New practice round"
        yield QuizHeader()
        with VerticalScroll(id="setup-body"):
            with Grid(id="filters"):
                yield Label("Phase")
                yield Select(
                    [(name, pid) for pid, name in PHASE_NAMES.items()],
                    prompt="mixed",
                    id="filter-phase",
                    compact=True,
                )
                yield Label("Level")
                yield Select(
                    [(lv, lv) for lv in LEVELS], prompt="mixed", id="filter-level", compact=True
                )
                yield Label("Topic")
                yield Select([], prompt="mixed", id="filter-topic", compact=True)
                yield Label("Kind")
                yield Select(
                    [(k, k) for k in KINDS], prompt="mixed", id="filter-kind", compact=True
                )
                yield Label("Questions")
                yield Select(
                    [(str(n), n) for n in ROUND_SIZES],
                    value=10,
                    allow_blank=False,
                    id="count",
                    compact=True,
                )
                yield Label("Due first")
                yield Switch(value=self.due_first, id="due-first")
            with Horizontal(classes="buttons"):
                yield Button("Start", variant="primary", id="start")
        yield Footer()

    def on_mount(self) -> None:
        self.when_backend_ready(self._fill_topics)
        self.query_one("#start", Button).focus()

    def _fill_topics(self) -> None:
        topics = self.backend.topics()
        self.query_one("#filter-topic", Select).set_options([(t, t) for t in topics])

    def filters(self) -> PracticeFilters:
        def chosen(selector: str) -> str | None:
            value = self.query_one(selector, Select).value
            return value if isinstance(value, str) else None

        count = self.query_one("#count", Select).value
        return PracticeFilters(
            phase=chosen("#filter-phase"),
            level=chosen("#filter-level"),
            topic=chosen("#filter-topic"),
            kind=chosen("#filter-kind"),
            due_first=self.query_one("#due-first", Switch).value,
            count=count if isinstance(count, int) else 10,
        )

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "start":
            self.action_start()

    def action_start(self) -> None:
        if not self.backend_ready:
            self.notify("Still loading the question bank…")
            return
        self.pick_round(self.filters())

    @work(thread=True, exclusive=True, exit_on_error=False, group="pick")
    def pick_round(self, filters: PracticeFilters) -> None:
        self.post_message(self.RoundPicked(self.backend.pick_practice(filters)))

    def on_practice_setup_screen_round_picked(self, message: RoundPicked) -> None:
        if not message.instances:
            self.notify("No questions match these filters; widen them.", severity="warning")
            return
        from quiz.tui.screens.practice import PracticeScreen

        self.app.push_screen(PracticeScreen(message.instances))
