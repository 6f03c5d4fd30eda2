"""One study phase on the dashboard: its name, mastery and coverage."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from quiz.tui.widgets.meter import Meter

# The roadmap's phase names (questions/roadmap.yaml; a test keeps them equal), here so that the
# dashboard, filters and question headers name a phase before the roadmap has loaded.
PHASE_NAMES = {
    "foundations": "Foundations",
    "core": "Core Optimization",
    "advanced": "Advanced Systems",
}


class PhaseCard(Vertical):
    """A phase's title line (questions seen, practicals passed) over its two meters."""

    DEFAULT_CSS = """
    PhaseCard { height: auto; padding: 0 1; }
    PhaseCard .phase-title { text-style: bold; }
    """

    def __init__(self, phase_id: str) -> None:
        super().__init__(id=f"phase-{phase_id}")
        self.phase_id = phase_id

    def compose(self) -> ComposeResult:
        yield Static(PHASE_NAMES.get(self.phase_id, self.phase_id), classes="phase-title")
        yield Meter("mastery", id="mastery")
        yield Meter("coverage", id="coverage")

    def show(self, phase: dict[str, Any]) -> None:
        seen, total = int(phase.get("questions_seen", 0)), int(phase.get("questions_total", 0))
        passed = int(phase.get("practicals_passed", 0))
        practicals = int(phase.get("practicals_total", 0))
        name = PHASE_NAMES.get(self.phase_id, self.phase_id)
        detail = f"  {seen}/{total} questions seen"
        if practicals:
            detail += f", {passed}/{practicals} practicals passed"
        if phase.get("milestone_passed"):
            detail += ", milestone passed ✓"
        title = Text(name, style="bold")
        title.append(detail, style="dim")
        self.query_one(".phase-title", Static).update(title)
        self.query_one("#mastery", Meter).value = float(phase.get("mastery") or 0.0)
        self.query_one("#coverage", Meter).value = seen / total if total else 0.0
