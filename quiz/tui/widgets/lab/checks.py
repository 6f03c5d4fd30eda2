"""A graded run as a table: each check, what was measured against what threshold."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable


def measured_text(value: Any, unit: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g} {unit}".strip()
    return f"{value} {unit}".strip()


class ChecksTable(DataTable[Any]):
    """One row per check: pass/fail, name, measured, threshold, message."""

    def __init__(self) -> None:
        super().__init__(id="checks", cursor_type="row", zebra_stripes=True)

    def show(self, checks: Iterable[dict[str, Any]]) -> None:
        self.clear(columns=True)
        self.add_columns("", "check", "measured", "threshold", "message")
        for check in checks:
            passed = bool(check.get("passed"))
            unit = str(check.get("unit") or "")
            self.add_row(
                Text("✓", style="green") if passed else Text("✗", style="bold red"),
                str(check.get("name", "")),
                measured_text(check.get("measured"), unit),
                measured_text(check.get("threshold"), unit),
                str(check.get("message") or ""),
            )
