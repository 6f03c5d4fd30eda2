"""The answer widget that fits a question's kind, and the keys that answer it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widget import Widget
from textual.widgets import Static

from quiz.tui.widgets.lab.practical_work import PracticalWork
from quiz.tui.widgets.question.options import OptionsAnswer
from quiz.tui.widgets.question.order import OrderAnswer
from quiz.tui.widgets.question.text import NumberAnswer, ProseAnswer

if TYPE_CHECKING:
    from quiz.bank import Instance


_KEY_HINTS = {
    "choice": "A letter (or space on the highlighted option) picks; enter submits.",
    "multi": "A letter (or space on the highlighted option) ticks or unticks; enter submits.",
    "order": "Type the letters in order (c a b puts C first, then A, then B); or pick a step with "
    "the arrows and move it with [ and ] (or shift+up/down); enter submits. The shown order is a "
    "shuffle, never the right one: it is no answer until a step moves.",
}


def key_hint(instance: Instance) -> Static | None:
    """The keys that answer a question of this kind, where the footer cannot show them all."""
    hint = _KEY_HINTS.get(instance.kind)
    return Static(hint, id="answer-keys", classes="hint", markup=False) if hint else None


def answer_widget(instance: Instance, *, work_practical: bool = False) -> Widget:
    """Choice / multi: options; numeric / estimate: a line with a unit; order: movable steps;
    short: an editor. A practical is worked in place with ``work_practical`` (a mock), else on
    the Practicals screen."""
    options = [(choice.id, choice.text) for choice in instance.choices or []]
    kind = instance.kind
    if kind in ("choice", "multi"):
        return OptionsAnswer(options, multi=kind == "multi")
    if kind == "order":
        return OrderAnswer(options)
    if kind in ("numeric", "estimate"):
        return NumberAnswer(instance.unit or "", estimate=kind == "estimate")
    if kind == "short":
        return ProseAnswer()
    if work_practical and instance.practical:
        return PracticalWork(instance.practical)
    return Static(
        "This is a practical: open it from the Practicals screen (l on the home screen), "
        "grade it there, and the result counts here.",
        id="answer-practical",
        classes="hint",
    )
