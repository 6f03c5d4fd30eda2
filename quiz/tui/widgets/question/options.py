"""Single choice and select-all-that-apply: letter or number keys pick an option directly."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from quiz.tui.widgets.question.base import AnswerInput, AnswerSubmitted, hanging_row


class OptionRow(Static):
    """One option; clicking it picks it."""

    def __init__(self, option_id: str, text: str) -> None:
        super().__init__(id=f"option-{option_id}", classes="option", markup=False)
        self.option_id = option_id
        self.text = text

    def show(self, *, picked: bool, multi: bool) -> None:
        mark = ("[x]" if picked else "[ ]") if multi else ("(•)" if picked else "( )")
        style = "bold" if picked else ""
        self.update(hanging_row(Text(f"{mark} {self.option_id}  ", style), Text(self.text, style)))
        self.set_class(picked, "-picked")

    def on_click(self) -> None:
        parent = self.parent
        if isinstance(parent, OptionsAnswer):
            parent.highlight = parent.ids.index(self.option_id)
            parent.pick(self.option_id)


class OptionsAnswer(AnswerInput, Vertical, can_focus=True):
    """Options ``A``, ``B``, …; ``multi`` toggles instead of replacing the pick."""

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", id="options.up", show=False),
        Binding("down,j", "move(1)", "Down", id="options.down", show=False),
        Binding("space", "pick_highlighted", "Pick", id="options.pick"),
        Binding("enter", "submit", "Submit", id="options.submit"),
    ]

    highlight: reactive[int] = reactive(0)

    def __init__(self, options: Sequence[tuple[str, str]], *, multi: bool) -> None:
        super().__init__(id="answer")
        self.ids = [option_id for option_id, _ in options]
        self.texts = [text for _, text in options]
        self.multi = multi
        self.picked: list[str] = []

    def compose(self) -> ComposeResult:
        for option_id, text in zip(self.ids, self.texts, strict=True):
            yield OptionRow(option_id, text)

    def on_mount(self) -> None:
        self._refresh_rows()

    def watch_highlight(self) -> None:
        self._refresh_rows()

    def _refresh_rows(self) -> None:
        for index, row in enumerate(self.query(OptionRow)):
            row.show(picked=row.option_id in self.picked, multi=self.multi)
            row.set_class(index == self.highlight and self.has_focus, "-highlight")

    def on_focus(self) -> None:
        self._refresh_rows()

    def on_blur(self) -> None:
        self._refresh_rows()

    def pick(self, option_id: str) -> None:
        if self.multi:
            if option_id in self.picked:
                self.picked.remove(option_id)
            else:
                self.picked.append(option_id)
        else:
            self.picked = [option_id]
        self._refresh_rows()

    def on_key(self, event: events.Key) -> None:
        """A letter names an option, a digit counts from 1."""
        key = (event.character or "").upper()
        index = self.ids.index(key) if key in self.ids else None
        if index is None and key.isdigit() and 1 <= int(key) <= len(self.ids):
            index = int(key) - 1
        if index is not None:
            event.stop()
            event.prevent_default()
            self.highlight = index
            self.pick(self.ids[index])

    def action_move(self, step: int) -> None:
        self.highlight = (self.highlight + step) % len(self.ids)

    def action_pick_highlighted(self) -> None:
        self.pick(self.ids[self.highlight])

    def action_submit(self) -> None:
        if not self.picked and not self.multi:
            self.pick(self.ids[self.highlight])
        self.post_message(AnswerSubmitted())

    def answer_text(self) -> str:
        return ",".join(sorted(self.picked))
