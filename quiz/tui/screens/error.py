"""A modal for unexpected errors: what happened, in one place, and the app carries on."""

from __future__ import annotations

import traceback

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ErrorModal(ModalScreen[None]):
    """Shows an exception's type and message, with the traceback to scroll through."""

    BINDINGS = [Binding("escape,enter", "dismiss", "Close", id="error.close")]

    def __init__(self, error: BaseException | None) -> None:
        super().__init__()
        self.error = error

    def compose(self) -> ComposeResult:
        error = self.error
        headline = f"{type(error).__name__}: {error}" if error else "Unknown error"
        details = "".join(traceback.format_exception(error)) if error else ""
        with Vertical(id="error-box"):
            yield Static("Something went wrong", id="error-title")
            yield Static(headline, id="error-headline", markup=False)
            with VerticalScroll(id="error-details"):
                yield Static(details, markup=False)
            yield Button("Close", variant="error", id="error-close")

    def on_button_pressed(self) -> None:
        self.dismiss()
