"""A practical worked where it is asked (a mock interview): its workspace, the edit routes, the
grade's live log. The screen that holds it does the work; the buttons only ask for it."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Log, Static


class PracticalWork(Vertical):
    """Buttons ``work-editor`` (e), ``work-external`` (x), ``work-grade`` (g);
    ``show_workspace``, ``write_log`` and ``show_status`` are driven by the screen."""

    DEFAULT_CSS = """
    PracticalWork { height: auto; border: tall $surface-lighten-1; padding: 0 1; }
    PracticalWork #work-log { height: 8; }
    PracticalWork .buttons Button { min-width: 10; }
    """

    def __init__(self, practical_id: str) -> None:
        super().__init__(id="answer-practical")
        self.practical_id = practical_id

    def compose(self) -> ComposeResult:
        yield Static(
            f"Practical {self.practical_id}: write solution.py in this interview's own "
            "workspace (it starts from the starter), then grade it — the grade is this "
            "question's score and the clock keeps running while it grades.",
            classes="hint",
            markup=False,
        )
        yield Static("Creating the workspace…", id="work-path", markup=False)
        with Horizontal(classes="buttons"):
            yield Button("Edit here (e)", id="work-editor")
            yield Button("$EDITOR (x)", id="work-external")
            yield Button("Grade & submit (g)", id="work-grade", variant="success")
        yield Static("", id="work-status", markup=False)
        yield Log(id="work-log", classes="hidden", max_lines=500)

    def show_workspace(self, folder: Path) -> None:
        self.query_one("#work-path", Static).update(f"Workspace: {folder}")

    def show_status(self, text: str) -> None:
        self.query_one("#work-status", Static).update(text)

    def write_log(self, line: str) -> None:
        log = self.query_one("#work-log", Log)
        log.remove_class("hidden")
        log.write_line(line)

    def focus(self, scroll_visible: bool = True) -> PracticalWork:
        self.query_one("#work-editor", Button).focus(scroll_visible)
        return self
