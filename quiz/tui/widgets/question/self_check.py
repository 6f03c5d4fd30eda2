"""The self-check of a short answer the grader was unsure of: its key points beside the model
answer, the ones the grader detected pre-ticked. The user confirms or corrects the ticks, and
the ticked weight is the score (``quiz.grading.short.self_checked``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Button, Checkbox, Static

from quiz.grading.short import self_checked
from quiz.tui.widgets.toggles import MarkedCheckbox

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.grading import Verdict

STATUS_NOTES = {"covered": "", "missing": "  (not detected)", "contradicted": "  (contradicted)"}


class SelfCheckConfirmed(Message):
    """The user confirmed which key points their answer makes."""

    def __init__(self, self_check: SelfCheck, covered: frozenset[int], verdict: Verdict) -> None:
        super().__init__()
        self.self_check = self_check
        self.covered = covered
        self.verdict = verdict  # the score of those points

    @property
    def control(self) -> SelfCheck:
        return self.self_check


class SelfCheck(Vertical):
    """One checkbox per key point, a running score, and Confirm (ctrl+y)."""

    DEFAULT_CSS = """
    SelfCheck { height: auto; margin: 1 0 0 0; }
    SelfCheck Checkbox { height: auto; border: none; padding: 0; }
    SelfCheck #self-check-score { margin: 0 0 0 1; color: $text-muted; }
    SelfCheck #self-check-confirm { margin: 1 0 0 0; }
    """
    BINDINGS = [
        Binding("ctrl+y", "confirm", "Confirm points", id="self_check.confirm"),
    ]

    def __init__(self, instance: Instance, verdict: Verdict) -> None:
        super().__init__(id="self-check")
        self.instance = instance
        self.verdict = verdict
        self.confirmed = False

    def compose(self) -> ComposeResult:
        yield Static(
            "Self-check: tick the points your answer makes (compare the model answer)",
            classes="section-title",
        )
        for index, point in enumerate(self.verdict.points):
            ticked = point.status == "covered"
            yield MarkedCheckbox(self._label(index, ticked), value=ticked, id=f"point-{index}")
        yield Static(self._score_line(), id="self-check-score")
        yield Button("Confirm points (ctrl+y)", id="self-check-confirm", variant="primary")

    def _label(self, index: int, ticked: bool) -> str:
        """The point, marked in words as well as by the box's colour."""
        point = self.verdict.points[index]
        return f"{'✓' if ticked else '○'} {point.text}{STATUS_NOTES[point.status]}"

    def covered(self) -> frozenset[int]:
        return frozenset(
            index
            for index in range(len(self.verdict.points))
            if self.query_one(f"#point-{index}", Checkbox).value
        )

    def _score_line(self) -> str:
        if not self.is_mounted:
            ticked = {i for i, p in enumerate(self.verdict.points) if p.status == "covered"}
        else:
            ticked = set(self.covered())
        checked = self_checked(self.instance, ticked)
        return f"Score with these ticks: {checked.score:.0%}"

    def on_checkbox_changed(self, event: Checkbox.Changed) -> None:
        event.stop()
        index = int((event.checkbox.id or "point-0").removeprefix("point-"))
        event.checkbox.label = self._label(index, event.value)
        if not self.confirmed:
            self.query_one("#self-check-score", Static).update(self._score_line())

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "self-check-confirm":
            event.stop()
            self.action_confirm()

    def action_confirm(self) -> None:
        if self.confirmed:
            return
        self.confirmed = True
        covered = self.covered()
        for checkbox in self.query(Checkbox):
            checkbox.disabled = True
        self.query_one("#self-check-confirm", Button).disabled = True
        verdict = self_checked(self.instance, covered)
        self.query_one("#self-check-score", Static).update(f"Recorded: {verdict.feedback}")
        self.post_message(SelfCheckConfirmed(self, covered, verdict))
