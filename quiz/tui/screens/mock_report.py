"""A mock interview's report: it opens at its headline (score, verdict band, time), then per
topic, time per question against its budget, when the candidate was away, and a walk-through
of every answer with the expected answer and explanation."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Markdown, Static

from quiz.bank.prose import unwrapped
from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.question.feedback import verdict_text
from quiz.tui.widgets.question.view import format_seconds


def not_reached_text(report: dict[str, Any]) -> str:
    """Why a question has no answer: abandoned, finished early (ctrl+f), or out of time."""
    if report.get("status") == "abandoned":
        return "Not reached: the interview was abandoned (the question stays unseen)."
    if report["elapsed_s"] < report["time_limit_s"]:
        return "Not reached: the interview was finished early."
    return "Not reached before the time ran out."


def away_text(report: dict[str, Any]) -> str:
    """One line per away period; practice mode says its pauses were not counted."""
    lines = []
    for period in report.get("away", []):
        left, back = period["left_at"][11:19], period["back_at"][11:19]
        counted = "counted" if period["counted_s"] >= period["seconds"] else "paused, not counted"
        if 0 < period["counted_s"] < period["seconds"]:
            counted = f"{format_seconds(period['counted_s'])} counted (then time ran out)"
        lines.append(f"Away {left}–{back} UTC ({format_seconds(period['seconds'])}, {counted})")
    return "\n".join(lines)


BAND_STYLES = {
    "strong hire": "bold green",
    "hire": "green",
    "lean no hire": "yellow",
    "no hire": "bold red",
}
BANDS_NOTE = "Bands on the mean score: strong hire ≥ 85 %, hire ≥ 70 %, lean no hire ≥ 55 %."


class MockReportScreen(QuizScreen):
    """``report`` is ``quiz.study.mock.MockReport.to_dict()``."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="mock_report.back")]

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__()
        self.report = report
        self.walking = False  # set by the first highlight (the table's own, on mount)

    def compose(self) -> ComposeResult:
        report = self.report
        yield QuizHeader()
        with VerticalScroll(id="report-body"):
            yield Static(self._headline(), id="report-headline")
            yield Static(BANDS_NOTE, classes="hint")
            away = away_text(report)
            if away:
                yield Static(away, id="report-away", classes="hint", markup=False)
            yield Static("Per topic", classes="section-title")
            yield DataTable(id="report-topics", cursor_type="none", zebra_stripes=True)
            yield Static("Questions (↑ ↓ to walk through your answers)", classes="section-title")
            yield DataTable(id="report-questions", cursor_type="row", zebra_stripes=True)
            yield Static("", id="walk-title", classes="section-title")
            yield Markdown("", id="walk-prompt")
            yield Static("", id="walk-answer", markup=False)
            yield Markdown("", id="walk-explanation")
        yield Footer()
        self.title = f"Mock interview #{report['session_id']}"

    def _headline(self) -> Text:
        report = self.report
        verdict = str(report.get("verdict", ""))
        line = Text(f"{report['level']} mock · {report['minutes']} min · ", style="bold")
        line.append(f"score {report['score']:.0%} · ")
        line.append(verdict, style=BAND_STYLES.get(verdict, "bold"))
        line.append(
            f"\n{report['answered']}/{report['total']} answered in "
            f"{format_seconds(report['elapsed_s'])} of {format_seconds(report['time_limit_s'])}",
            style="dim",
        )
        if report.get("status") == "abandoned":
            line.append(" · abandoned", style="bold yellow")
        if report.get("practice_mode"):
            line.append(" · practice mode (pauses not counted)", style="yellow")
        return line

    async def on_mount(self) -> None:
        if not self.query("#report-topics"):
            return  # the app is quitting: Textual mounts no children then (seen in a test run)
        topics = self.query_one("#report-topics", DataTable)
        topics.add_columns("topic", "answered", "score")
        for topic, entry in self.report["per_topic"].items():
            topics.add_row(topic, f"{entry['answered']}/{entry['total']}", f"{entry['score']:.0%}")
        questions = self.query_one("#report-questions", DataTable)
        questions.add_columns(
            "#", "score", "time", "budget", "question"
        )  # title last: fits 80 cols
        for number, item in enumerate(self.report["items"], start=1):
            spent = item.get("duration_s")
            time_cell = Text(
                format_seconds(spent) if spent is not None else "—",
                style="bold red" if item.get("over_budget") else "",
            )
            questions.add_row(
                str(number),
                f"{item['score']:.0%}" if item["answered"] else "not reached",
                time_cell,
                format_seconds(item["budget_s"]),
                item["title"],
                key=str(number - 1),
            )
        if self.report["items"]:
            await self.show_item(0)
        questions.focus(scroll_visible=False)
        self.call_after_refresh(self.query_one("#report-body").scroll_home, animate=False)

    async def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "report-questions" and event.row_key.value is not None:
            await self.show_item(int(event.row_key.value))
            if self.walking:  # the report opened at its headline; moving shows the answer
                self.call_after_refresh(self._show_walk_through)
            self.walking = True

    def _show_walk_through(self) -> None:
        self.query_one("#walk-answer").scroll_visible(animate=False)

    async def show_item(self, index: int) -> None:
        """Awaited: Textual parses Markdown in a thread, and the answer is scrolled to only once
        the prompt above it has its height."""
        item = self.report["items"][index]
        self.query_one("#walk-title", Static).update(f"{index + 1}. {item['title']}")
        answer = Text()
        if item["answered"]:
            answer.append_text(verdict_text(item["score"], item["correct"]))
            answer.append(f"\nYour answer: {item.get('answer') or '(blank)'}")
            answer.append(f"\nExpected: {unwrapped(item.get('expected') or '')}")
            if item.get("feedback"):
                answer.append(f"\n{item['feedback']}", style="dim")
        else:
            answer.append(not_reached_text(self.report), style="dim")
        self.query_one("#walk-answer", Static).update(answer)
        await self.query_one("#walk-prompt", Markdown).update(item.get("prompt") or "")
        await self.query_one("#walk-explanation", Markdown).update(item.get("explanation") or "")
