"""Put steps in order: type their letters in order (each letter puts its step next), or pick a
step with the arrows and move it with ``[`` / ``]`` or shift+arrows. The picked step is marked
with ▶, not by colour alone."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Static

from quiz.bank.schema import OPTION_IDS, ORDER_MAX_ITEMS
from quiz.tui.widgets.question.base import AnswerInput, AnswerSubmitted, hanging_row

PLACING_LETTERS = OPTION_IDS[:ORDER_MAX_ITEMS].lower()  # a to i: j and k move the highlight


class OrderAnswer(AnswerInput, Vertical, can_focus=True):
    """The steps as shown (shuffled by the question's seed); the answer is their ids in order
    once a step has been placed or moved. Before that there is no answer: the shown order is
    never the right one, and submitting it untouched (a skip, time running out, finishing early)
    earned partial credit for pairs the shuffle happened to leave in order."""

    BINDINGS = [
        Binding("up,k", "move_highlight(-1)", "Up", id="order.up", show=False),
        Binding("down,j", "move_highlight(1)", "Down", id="order.down", show=False),
        Binding("left_square_bracket,shift+up,K", "move_item(-1)", "Move up", id="order.item_up"),
        Binding(
            "right_square_bracket,shift+down,J", "move_item(1)", "Move down", id="order.item_down"
        ),
        Binding("enter", "submit", "Submit", id="order.submit"),
        *(
            Binding(
                letter,
                f"place('{letter.upper()}')",
                f"Put {letter.upper()} next",
                id=f"order.place_{letter}",
                show=False,
            )
            for letter in PLACING_LETTERS + PLACING_LETTERS.upper()
        ),
    ]

    highlight: reactive[int] = reactive(0)

    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        super().__init__(id="answer")
        self.items = list(items)
        self._typed: list[str] = []  # the steps placed by letter so far, first to last
        self._ordered = False  # whether the user has placed or moved any step yet

    def compose(self) -> ComposeResult:
        for _ in self.items:
            yield Static(classes="option")

    def on_mount(self) -> None:
        self._refresh_rows()

    def watch_highlight(self) -> None:
        self._refresh_rows()

    def on_focus(self) -> None:
        self._refresh_rows()

    def on_blur(self) -> None:
        self._refresh_rows()

    def _refresh_rows(self) -> None:
        for position, (row, (item_id, text)) in enumerate(
            zip(self.query(Static), self.items, strict=True)
        ):
            picked = position == self.highlight and self.has_focus
            lead = Text("▶ " if picked else "  ", style="bold")
            lead.append(f"{position + 1}. ", style="bold")
            lead.append(f"{item_id}  ", style="dim")
            row.update(hanging_row(lead, Text(text)))
            row.set_class(picked, "-highlight")

    def action_place(self, item_id: str) -> None:
        """Put the step labelled ``item_id`` (its letter) next in the typed order: the first
        letter typed goes first, the next second, and so on; once every step has been typed, the
        next letter starts a new order. A step typed twice in one order is only picked."""
        ids = [i for i, _ in self.items]
        if item_id not in ids:
            return
        if len(self._typed) == len(self.items):
            self._typed = []
        if item_id not in self._typed:
            self.items.insert(len(self._typed), self.items.pop(ids.index(item_id)))
            self._typed.append(item_id)
            self._ordered = True
            self._refresh_rows()
        self.highlight = [i for i, _ in self.items].index(item_id)

    def action_move_highlight(self, step: int) -> None:
        self.highlight = (self.highlight + step) % len(self.items)

    def action_move_item(self, step: int) -> None:
        source, target = self.highlight, self.highlight + step
        if 0 <= target < len(self.items):
            self.items[source], self.items[target] = self.items[target], self.items[source]
            self.highlight = target
            self._ordered = True
            self._refresh_rows()

    def action_submit(self) -> None:
        self.post_message(AnswerSubmitted())

    def answer_text(self) -> str:
        return ",".join(item_id for item_id, _ in self.items) if self._ordered else ""
