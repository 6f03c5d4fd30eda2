"""A mock's practical item, worked inside the interview: its own workspace (from the starter),
the in-app editor or $EDITOR, and a grade on the clock whose score is the item's score.

Time running out while it grades stops the grade: the item is then not scored, like an answer
given after the time is up.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.lab.practical_work import PracticalWork

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.study.mock import MockSession

WORK_BUTTONS = {"work-editor": "edit_here", "work-external": "edit_external", "work-grade": "grade"}


class MockPracticalItem(QuizScreen):
    """The practical half of MockScreen; it sets ``mock``, ``busy``, ``ending`` and calls
    ``practical_shown`` when a practical item is on screen."""

    mock: MockSession | None
    busy: bool
    ending: bool

    class WorkspaceReady(Message):
        def __init__(self, folder: Path) -> None:
            super().__init__()
            self.folder = folder

    class LabLogLine(Message):
        def __init__(self, line: str) -> None:
            super().__init__()
            self.line = line

    class PracticalRecorded(Message):
        def __init__(self, next_instance: Instance | None) -> None:
            super().__init__()
            self.next_instance = next_instance

    def init_practical_item(self) -> None:
        self.work_folder: Path | None = None
        self.grading = False
        self.cancel_grade = threading.Event()

    @property
    def work_panel(self) -> PracticalWork | None:
        panels = self.query(PracticalWork)
        return panels.first() if panels else None

    def practical_shown(self, mock: MockSession) -> None:
        self.work_folder = None
        self.open_workspace(mock)

    @work(thread=True, exclusive=True, exit_on_error=False, group="mock-workspace")
    def open_workspace(self, mock: MockSession) -> None:
        self.post_message(self.WorkspaceReady(self.backend.mock_workspace(mock)))

    def on_mock_practical_item_workspace_ready(self, message: WorkspaceReady) -> None:
        self.work_folder = message.folder
        if self.work_panel is not None:
            self.work_panel.show_workspace(message.folder)

    def on_practical_work_button(self, button_id: str) -> bool:
        """Run the action of a PracticalWork button; False if it is not one."""
        action = WORK_BUTTONS.get(button_id)
        if action is not None:
            getattr(self, f"action_{action}")()
        return action is not None

    def _ready_folder(self) -> Path | None:
        if self.work_panel is None or self.busy or self.ending:
            return None
        if self.work_folder is None:
            self.notify("The workspace is still being created.", severity="warning")
        return self.work_folder

    def action_edit_here(self) -> None:
        from quiz.tui.screens.editor import EditorScreen

        folder, mock = self._ready_folder(), self.mock
        if folder is None or mock is None:
            return
        self.app.push_screen(
            EditorScreen(
                folder,
                title=f"Mock · {folder.name}/solution.py",
                remaining_s=mock.remaining_s,
                on_submit=self.action_grade,
            )
        )

    def action_edit_external(self) -> None:
        """Open solution.py in $EDITOR; the app suspends until the editor exits (the clock
        does not)."""
        folder = self._ready_folder()
        if folder is None:
            return
        self.edit_externally(folder / "solution.py")

    def action_grade(self) -> None:
        folder, mock = self._ready_folder(), self.mock
        if folder is None or mock is None or self.grading:
            return
        panel = self.work_panel
        assert panel is not None
        self.busy = self.grading = True
        self.cancel_grade.clear()
        panel.show_status("Grading in the lab's worker process (the clock is running)…")
        panel.disabled = True
        self.grade_item(mock, folder)

    @work(thread=True, exclusive=True, exit_on_error=False, group="mock", name="mock-record")
    def grade_item(self, mock: MockSession, folder: Path) -> None:
        instance = self.backend.mock_instance(mock)
        result = self.backend.run_lab(
            instance.practical or instance.question_id,
            folder,
            on_log=self._post_lab_log_line,
            cancel=self.cancel_grade,
        )
        self.backend.record_mock_practical(mock, result.to_dict())
        next_instance = None if mock.done else self.backend.mock_instance(mock)
        self.post_message(self.PracticalRecorded(next_instance))

    def _post_lab_log_line(self, line: str) -> None:
        self.post_message(self.LabLogLine(line))

    def on_mock_practical_item_lab_log_line(self, message: LabLogLine) -> None:
        if self.work_panel is not None:
            self.work_panel.write_log(message.line)

    def stop_grading(self) -> None:
        """Time is up: a grade still running does not count."""
        if self.grading:
            self.cancel_grade.set()

    def grading_failed(self) -> None:
        """The grade could not run (e.g. no workspace): the item can be worked again."""
        self.grading = False
        panel = self.work_panel
        if panel is not None:
            panel.disabled = False
            panel.show_status("The grade did not run; fix the problem and grade again.")
