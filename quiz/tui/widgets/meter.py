"""A labelled horizontal bar for a fraction (mastery, coverage, score)."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

LABEL_WIDTH = 9


class Meter(Widget):
    """``label  ██████░░░░  62%`` sized to its width; shows ``…`` until a value is set."""

    DEFAULT_CSS = """
    Meter { height: 1; width: 1fr; }
    """

    value: reactive[float | None] = reactive(None)

    def __init__(self, label: str, value: float | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.label = label
        self.set_reactive(Meter.value, value)

    def render(self) -> Text:
        suffix = "   …" if self.value is None else f" {self.value:4.0%}"
        bar_width = max(self.size.width - LABEL_WIDTH - len(suffix) - 1, 4)
        fraction = min(max(self.value or 0.0, 0.0), 1.0)
        filled = round(fraction * bar_width)
        text = Text(f"{self.label:<{LABEL_WIDTH}}", style="dim")
        text.append("█" * filled, style=self._bar_style(fraction))
        text.append("░" * (bar_width - filled), style="dim")
        text.append(suffix)
        return text

    @staticmethod
    def _bar_style(fraction: float) -> str:
        if fraction >= 0.8:
            return "green"
        if fraction >= 0.5:
            return "yellow"
        return "red" if fraction > 0 else "dim"
