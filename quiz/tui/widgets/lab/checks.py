"""A graded run as a table: each check, what was measured against what threshold; the row
under the cursor has its whole message below the table (a cell cuts it at the column edge)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from quiz.lab.api import measured_text, threshold_text


def verdict_mark(check: dict[str, Any]) -> Text:
    if check.get("passed"):
        return Text("✓", style="green")
    if check.get("inconclusive"):
        return Text("?", style="bold yellow")
    return Text("✗", style="bold red")


def check_detail(check: dict[str, Any]) -> str:
    """One check's name, verdict and whole message, for the line under the table."""
    if check.get("passed"):
        verdict = "passed"
    else:
        verdict = "inconclusive (not a pass)" if check.get("inconclusive") else "failed"
    message = str(check.get("message") or "")
    return f"{check.get('name', '')}: {verdict}" + (f" — {message}" if message else "")


class ChecksTable(DataTable[Any]):
    """One row per check: pass/fail/inconclusive, name, measured, threshold, message."""

    def __init__(self) -> None:
        super().__init__(id="checks", cursor_type="row", zebra_stripes=True)
        self.checks: list[dict[str, Any]] = []

    def show(self, checks: Iterable[dict[str, Any]]) -> None:
        self.checks = list(checks)
        self.clear(columns=True)
        self.add_columns("", "check", "measured", "threshold", "message")
        for check in self.checks:
            unit = str(check.get("unit") or "")
            self.add_row(
                verdict_mark(check),
                str(check.get("name", "")),
                measured_text(check.get("measured"), unit, missing="—"),
                threshold_text(check.get("threshold"), unit, missing="—"),
                str(check.get("message") or ""),
            )
        unsettled = [i for i, check in enumerate(self.checks) if not check.get("passed")]
        if unsettled:
            self.move_cursor(row=unsettled[0])

    def detail(self, row: int) -> str:
        return check_detail(self.checks[row]) if 0 <= row < len(self.checks) else ""
