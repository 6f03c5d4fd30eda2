"""The in-app editor for a practical's workspace: solution.py first, then its other editable
files (a plan.yaml); edit, save, run solution.py (a quick local check in a subprocess), or
submit for the full grade (the screen that opened the editor grades)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import Footer, Log, Static

from quiz.tui.backend import QUICK_RUN_TIMEOUT_S, QuickRun
from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.question.text import DetachSafeTextArea
from quiz.tui.widgets.question.view import format_seconds

EDITABLE_SUFFIXES = (".py", ".yaml", ".yml", ".json", ".toml", ".txt")


def editable_files(folder: Path) -> list[Path]:
    """solution.py, then the workspace's other text files (not the README or the marker)."""
    others = sorted(
        path
        for path in folder.iterdir()
        if path.suffix in EDITABLE_SUFFIXES
        and path.is_file()
        and not path.name.startswith(".")
        and path.name != "solution.py"
    )
    return [folder / "solution.py", *others]


class EditorScreen(QuizScreen):
    """``folder`` holds solution.py. ``remaining_s`` (a mock's clock) shows the time left;
    ``on_submit`` is called after the files are saved and the editor closed."""

    DEFAULT_CSS = """
    EditorScreen #editor-text { height: 1fr; }
    EditorScreen #editor-output { height: 7; border-top: solid $accent; }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="editor.save"),
        Binding("ctrl+o", "next_file", "Next file", id="editor.next_file"),
        Binding("ctrl+r", "run", "Run", id="editor.run"),
        Binding("ctrl+g", "submit", "Submit (grade)", id="editor.submit"),
        Binding("escape", "leave", "Save & back", id="editor.back", priority=True),
    ]

    class Ran(Message):
        def __init__(self, run: QuickRun) -> None:
            super().__init__()
            self.run = run

    def __init__(
        self,
        folder: Path,
        *,
        title: str,
        remaining_s: Callable[[], float] | None = None,
        on_submit: Callable[[], object] | None = None,
    ) -> None:
        super().__init__()
        self.folder = folder
        self.files = editable_files(folder)
        self.file_index = 0
        self.heading = title
        self.remaining_s = remaining_s
        self.on_submit = on_submit
        self.saved_text = self.current_file.read_text(encoding="utf-8")
        self.running = False

    @property
    def current_file(self) -> Path:
        return self.files[self.file_index]

    def compose(self) -> ComposeResult:
        yield QuizHeader()
        yield Static("", id="editor-status", markup=False)
        yield DetachSafeTextArea.code_editor(
            self.saved_text, language="python", id="editor-text", soft_wrap=False
        )  # solution.py comes first
        yield Log(id="editor-output", classes="hidden", max_lines=1000)
        yield Footer()

    def on_mount(self) -> None:
        self.title = self.heading
        self.query_one(DetachSafeTextArea).focus()
        self.show_status()
        if self.remaining_s is not None:
            self.set_interval(1, self.show_status)

    @property
    def text(self) -> str:
        return self.query_one(DetachSafeTextArea).text

    def show_status(self) -> None:
        shown = f"{self.folder.name}/{self.current_file.name}"  # short: it fits 80 columns
        parts = [shown, "saved" if self.text == self.saved_text else "modified"]
        if len(self.files) > 1:
            parts.append(f"file {self.file_index + 1}/{len(self.files)} (ctrl+o next)")
        if self.running:
            parts.append("running…")
        if self.remaining_s is not None:
            parts.append(f"⏱ {format_seconds(self.remaining_s())} left")
        self.query_one("#editor-status", Static).update(" · ".join(parts))

    def on_text_area_changed(self) -> None:
        self.show_status()

    def save(self) -> None:
        """Write the file if it changed (raises OSError when it can't)."""
        text = self.text
        if text != self.saved_text:
            self.current_file.write_text(text, encoding="utf-8")
            self.saved_text = text
        self.show_status()

    def saved(self) -> bool:
        """Save, or say why not (the edits stay on screen)."""
        try:
            self.save()
        except OSError as err:
            self.notify(f"Could not save {self.current_file}: {err}", severity="error")
            return False
        return True

    def action_next_file(self) -> None:
        if len(self.files) < 2 or not self.saved():
            return
        self.file_index = (self.file_index + 1) % len(self.files)
        self.saved_text = self.current_file.read_text(encoding="utf-8")
        area = self.query_one(DetachSafeTextArea)
        area.language = "python" if self.current_file.suffix == ".py" else None
        area.load_text(self.saved_text)
        self.show_status()

    def action_save(self) -> None:
        if self.saved():
            self.notify("Saved.", timeout=2)

    def action_run(self) -> None:
        if self.running:
            self.notify("Already running.")
            return
        if not self.saved():
            return
        self.running = True
        output = self.query_one("#editor-output", Log)
        output.clear()
        output.remove_class("hidden")
        output.write_line(
            f"$ python solution.py  (at most {QUICK_RUN_TIMEOUT_S} s; ctrl+g submits for the grade)"
        )
        self.show_status()
        self.run_solution()

    @work(thread=True, exclusive=True, exit_on_error=False, group="editor-run")
    def run_solution(self) -> None:
        self.post_message(self.Ran(self.backend.quick_run(self.folder)))

    def on_editor_screen_ran(self, message: Ran) -> None:
        self.running = False
        output = self.query_one("#editor-output", Log)
        output.write_lines(message.run.output.rstrip().splitlines())
        code = message.run.returncode
        output.write_line("stopped at the time limit" if code is None else f"exit status {code}")
        self.show_status()

    def action_submit(self) -> None:
        if self.leave() and self.on_submit is not None:
            self.on_submit()

    def action_leave(self) -> None:
        self.leave()

    def leave(self) -> bool:
        """Save and close; stays open (and says why) when the file can't be written."""
        if not self.saved():
            return False
        self.app.pop_screen()
        return True

    def save_before_quit(self) -> None:
        """The app is quitting: keep the edits (an unwritable file fails the quit loudly)."""
        self.save()
