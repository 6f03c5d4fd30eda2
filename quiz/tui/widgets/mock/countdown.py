"""The always-visible mock-interview clock: warning style under 5 minutes, error style under 1."""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

WARN_AT_S = 5 * 60
ALARM_AT_S = 60


class Countdown(Static):
    """Shows ``remaining_s`` as ``mm:ss left``; its class says how urgent it is."""

    DEFAULT_CSS = """
    Countdown { width: auto; padding: 0 1; text-style: bold; }
    Countdown.-warning { background: $warning; color: $text; }
    Countdown.-alarm { background: $error; color: $text; text-style: bold reverse; }
    """

    remaining_s: reactive[float] = reactive(0.0)

    def watch_remaining_s(self, remaining: float) -> None:
        seconds = max(int(remaining + 0.999), 0)  # round up: 0:00 only when time is really up
        self.update(Text(f"⏱ {seconds // 60:02d}:{seconds % 60:02d} left"))
        self.set_class(ALARM_AT_S < remaining <= WARN_AT_S, "-warning")
        self.set_class(remaining <= ALARM_AT_S, "-alarm")
