"""What every screen shares: the backend, waiting for it to open, how a failed worker is shown
to the user, and handing a file to the user's $EDITOR."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from textual.app import App
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from quiz.errors import QuizError

if TYPE_CHECKING:
    from quiz.tui.app import LatencyQuizApp
    from quiz.tui.backend import Backend


def report_error(app: App[Any], event: object) -> None:
    """Show a failed worker's error: a user mistake as a notification, anything else as a modal.

    The app keeps running either way.
    """
    if not isinstance(event, Worker.StateChanged) or event.state != WorkerState.ERROR:
        return
    error = event.worker.error
    if isinstance(error, QuizError):
        app.notify(str(error), title="Can't do that", severity="error", timeout=8)
        return
    from quiz.tui.screens.error import ErrorModal

    app.push_screen(ErrorModal(error))


class QuizScreen(Screen[None]):
    """A screen of this app: typed access to the backend and the clock."""

    @property
    def quiz_app(self) -> LatencyQuizApp:
        return cast("LatencyQuizApp", self.app)

    @property
    def backend(self) -> Backend:
        return self.quiz_app.backend

    @property
    def backend_ready(self) -> bool:
        return self.quiz_app.backend_ready

    def when_backend_ready(self, callback: Callable[[], object]) -> None:
        """Run ``callback`` now if the backend is open, else as soon as it is."""

        def on_change(ready: bool) -> None:
            if ready:
                callback()

        self.watch(self.app, "backend_ready", on_change)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # Worker messages don't bubble: each screen reports its own workers' failures.
        report_error(self.app, event)

    def edit_externally(self, path: Path) -> None:
        """Open ``path`` in $VISUAL or $EDITOR; the app suspends until the editor exits."""
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify("$EDITOR is not set: e edits here.", severity="warning")
            return
        try:
            with self.app.suspend():
                subprocess.run([*shlex.split(editor), str(path)], check=False)
        except Exception as err:  # no terminal to hand over (a web or headless driver)
            self.notify(f"Can't open the editor here: {err}", severity="error")
