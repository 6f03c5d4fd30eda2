"""One practical: the task (README), the hint ladder, the workspace, grading with a live log
and a table of checks, and past runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Footer, Log, Markdown, Static

from quiz.lab.api import revealed_answer
from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.lab.checks import ChecksTable

if TYPE_CHECKING:
    from quiz.lab.catalog import Practical
    from quiz.store import PracticalRunRow


class PracticalScreen(QuizScreen):
    """h: next hint, w: create workspace, e: edit it here (run, submit), x: open it in
    $EDITOR, g: grade it."""

    BINDINGS = [
        Binding("escape", "leave", "Back", id="practical.back"),
        Binding("h", "hint", "Next hint", id="practical.hint"),
        Binding("w", "workspace", "Workspace", id="practical.workspace"),
        Binding("e", "edit_here", "Edit", id="practical.edit_here"),
        Binding("x", "edit", "$EDITOR", id="practical.edit"),
        Binding("g", "grade", "Grade", id="practical.grade"),
    ]

    class Loaded(Message):
        def __init__(self, hints: int, runs: list[PracticalRunRow], workspace: Path) -> None:
            super().__init__()
            self.hints, self.runs, self.workspace = hints, runs, workspace

    class HintRevealed(Message):
        def __init__(self, shown: int) -> None:
            super().__init__()
            self.shown = shown

    class WorkspaceCreated(Message):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    class LogLine(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    class Graded(Message):
        def __init__(self, result: dict[str, Any]) -> None:
            super().__init__()
            self.result = result

    def __init__(self, practical: Practical) -> None:
        super().__init__()
        self.practical = practical
        self.hints_shown = 0
        self.workspace: Path | None = None
        self.cancel = threading.Event()
        self.grading = False

    def compose(self) -> ComposeResult:
        spec = self.practical.spec
        yield QuizHeader()
        with VerticalScroll(id="practical-body"):
            yield Static(
                f"{spec.phase} · {spec.level} · device {spec.device} · "
                f"time limit {spec.time_limit_s:g} s",
                classes="hint",
                markup=False,
            )
            availability = self.practical.availability
            if not availability.available:
                yield Static(f"Can't run here: {availability.reason}", id="unavailable")
            elif availability.caveat:
                yield Static(f"Note: {availability.caveat}.", id="caveat", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Next hint (h)", id="hint")
                yield Button("Workspace (w)", id="workspace")
                yield Button("Edit (e)", id="edit_here")
                yield Button("$EDITOR (x)", id="edit")
                yield Button("Grade (g)", id="grade", variant="primary")
            yield Static("", id="workspace-path", classes="hint", markup=False)
            yield Markdown(self.practical.readme, id="readme")
            yield Static("Hints", classes="section-title")
            yield Static("", id="hint-count", classes="hint")
            yield Markdown("", id="hints")
            yield Static("Grading", classes="section-title hidden", id="grading-title")
            yield Log(id="grade-log", classes="hidden", max_lines=2000)
            yield Static("", id="grade-verdict")
            yield ChecksTable()
            yield Static("", id="check-detail", markup=False)
            yield Static("", id="grade-answer", markup=False)
            yield Static("Past runs", classes="section-title")
            yield DataTable(id="runs", cursor_type="none", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.practical.spec.title
        self.query_one(ChecksTable).display = False
        self.when_backend_ready(self.load)

    @work(thread=True, exclusive=True, exit_on_error=False, group="practical-load")
    def load(self) -> None:
        practical_id = self.practical.id
        self.post_message(
            self.Loaded(
                self.backend.hints_revealed(practical_id),
                self.backend.practical_runs(practical_id),
                self.backend.workspace(practical_id),
            )
        )

    async def on_practical_screen_loaded(self, message: Loaded) -> None:
        self.workspace = message.workspace
        self._show_workspace()
        self._show_runs(message.runs)
        await self._show_hints(message.hints)

    def _show_workspace(self) -> None:
        path = self.workspace
        exists = path is not None and (path / "solution.py").is_file()
        text = f"Workspace: {path}" if exists else "No workspace yet: w creates one."
        self.query_one("#workspace-path", Static).update(text)

    async def _show_hints(self, shown: int) -> None:
        hints = self.practical.hints
        self.hints_shown = shown
        self.query_one("#hint-count", Static).update(
            f"{shown} of {len(hints)} hints revealed"
            + (" — h for the next" if shown < len(hints) else "")
        )
        text = "\n\n".join(f"**Hint {n}.** {hint}" for n, hint in enumerate(hints[:shown], 1))
        await self.query_one("#hints", Markdown).update(text)

    def _show_runs(self, runs: list[PracticalRunRow]) -> None:
        table = self.query_one("#runs", DataTable)
        table.clear(columns=True)
        table.add_columns("when", "source", "result", "score", "time")
        for run in reversed(runs):
            table.add_row(
                run.created_at.strftime("%Y-%m-%d %H:%M"),
                run.source,
                run.result.get("verdict") or ("passed" if run.passed else "failed"),
                f"{run.score:.0%}",
                f"{run.duration_s:.1f} s" if run.duration_s is not None else "—",
            )
        if not runs:
            table.add_row("no runs yet", "", "", "", "")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id in ("hint", "workspace", "edit_here", "edit", "grade"):
            event.stop()
            getattr(self, f"action_{event.button.id}")()

    # Hints and workspace -------------------------------------------------------------------

    def action_hint(self) -> None:
        if self.hints_shown >= len(self.practical.hints):
            self.notify("Every hint is already shown.")
            return
        self.reveal_hint()

    @work(thread=True, exclusive=True, exit_on_error=False, group="hint")
    def reveal_hint(self) -> None:
        shown = self.backend.reveal_hint(self.practical.id, len(self.practical.hints))
        self.post_message(self.HintRevealed(shown))

    async def on_practical_screen_hint_revealed(self, message: HintRevealed) -> None:
        await self._show_hints(message.shown)  # laid out (parsed in a thread) before scrolling
        hints = self.query_one("#hints", Markdown)
        newest = hints.children[-1] if hints.children else hints
        self.call_after_refresh(newest.scroll_visible, animate=False)

    def action_workspace(self) -> None:
        self.create_workspace()

    @work(thread=True, exclusive=True, exit_on_error=False, group="workspace")
    def create_workspace(self) -> None:
        self.post_message(self.WorkspaceCreated(self.backend.start_workspace(self.practical.id)))

    def on_practical_screen_workspace_created(self, message: WorkspaceCreated) -> None:
        self.workspace = message.path
        self._show_workspace()
        self.notify(f"Workspace created: {message.path}")

    def action_edit_here(self) -> None:
        """The in-app editor: save, run (a quick local check), submit (grade)."""
        from quiz.tui.screens.editor import EditorScreen

        solution = self.workspace / "solution.py" if self.workspace else None
        if solution is None or not solution.is_file():
            self.notify("Create the workspace first (w).", severity="warning")
            return
        self.app.push_screen(
            EditorScreen(
                solution.parent,
                title=f"{self.practical.id}/solution.py",
                on_submit=self.action_grade,
            )
        )

    def action_edit(self) -> None:
        """Open solution.py in $EDITOR; the app suspends until the editor exits."""
        solution = self.workspace / "solution.py" if self.workspace else None
        if solution is None or not solution.is_file():
            self.notify("Create the workspace first (w).", severity="warning")
            return
        self.edit_externally(solution)

    # Grading -------------------------------------------------------------------------------

    def action_grade(self) -> None:
        if self.grading:
            self.notify("Already grading.")
            return
        if not self.practical.availability.available:
            self.notify(self.practical.availability.reason, severity="error")
            return
        self.grading = True
        self.cancel.clear()
        log = self.query_one("#grade-log", Log)
        log.clear()
        for widget in (log, self.query_one("#grading-title")):
            widget.remove_class("hidden")
        self.query_one("#grade-verdict", Static).update("Grading in a worker process…")
        self.query_one(ChecksTable).display = False
        self.query_one("#check-detail", Static).update("")
        log.scroll_visible()
        self.grade()

    @work(thread=True, exclusive=True, exit_on_error=False, group="grade", name="grade")
    def grade(self) -> None:
        result = self.backend.grade_practical(
            self.practical.id,
            on_log=self._post_log_line,
            cancel=self.cancel,
        )
        self.post_message(self.Graded(result.to_dict()))

    def _post_log_line(self, line: str) -> None:
        self.post_message(self.LogLine(line))

    def on_practical_screen_log_line(self, message: LogLine) -> None:
        self.query_one("#grade-log", Log).write_line(message.line)

    def on_practical_screen_graded(self, message: Graded) -> None:
        self.grading = False
        result = message.result
        if result.get("error"):
            verdict = f"Failed: {result['error']}"
        elif result.get("inconclusive"):
            verdict = (
                f"Inconclusive (not a pass) — {result['score']:.0%} of checks passed in "
                f"{result['duration_s']:.1f} s; a check marked ? could not be decided here: "
                "its message says why"
            )
        else:
            verdict = (
                f"{'Passed' if result['passed'] else 'Not passed'} — "
                f"{result['score']:.0%} of checks in {result['duration_s']:.1f} s"
            )
        self.query_one("#grade-verdict", Static).update(verdict)
        table = self.query_one(ChecksTable)
        table.show(result.get("checks", []))
        table.display = True
        self.query_one("#check-detail", Static).update(table.detail(table.cursor_row))
        answer = revealed_answer(bool(result.get("passed")), result.get("details", {}))
        self.query_one("#grade-answer", Static).update(answer)
        table.scroll_visible()
        self.load()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if isinstance(event.data_table, ChecksTable):
            detail = event.data_table.detail(event.cursor_row)
            self.query_one("#check-detail", Static).update(detail)

    def on_worker_state_changed(self, event: object) -> None:
        from textual.worker import Worker, WorkerState

        if (
            isinstance(event, Worker.StateChanged)
            and event.worker.name == "grade"
            and event.state in (WorkerState.ERROR, WorkerState.CANCELLED)
        ):
            self.grading = False
            self.query_one("#grade-verdict", Static).update("Grading did not finish.")

    def action_leave(self) -> None:
        if self.grading:
            self.cancel.set()  # stops the worker process; the result says it was cancelled
            self.notify("Grading cancelled.")
        self.app.pop_screen()
