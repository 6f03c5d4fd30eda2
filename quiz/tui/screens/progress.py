"""Progress: accuracy and coverage per phase and topic, scores over time, weakest topics, and
past mock interviews (enter opens a report)."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.progress.score_chart import ScoreChart

WEAKEST_SHOWN = 3


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


class ProgressScreen(QuizScreen):
    """Everything ``latency-quiz progress`` knows, plus the chart."""

    BINDINGS = [Binding("escape", "app.pop_screen", "Back", id="progress.back")]

    class Loaded(Message):
        def __init__(self, progress: dict[str, Any], scores: list[float], runs: int) -> None:
            super().__init__()
            self.progress = progress
            self.scores = scores
            self.runs = runs

    class ReportLoaded(Message):
        def __init__(self, report: dict[str, Any]) -> None:
            super().__init__()
            self.report = report

    def compose(self) -> ComposeResult:
        yield QuizHeader()
        with VerticalScroll(id="progress-body"):
            yield Static("Loading…", id="progress-summary")
            yield Static("Phases", classes="section-title")
            yield DataTable(id="progress-phases", cursor_type="none", zebra_stripes=True)
            yield Static("Scores over time", classes="section-title")
            yield ScoreChart(id="score-chart")
            yield Static("", id="weakest")
            yield Static("Topics", classes="section-title")
            yield DataTable(id="progress-topics", cursor_type="none", zebra_stripes=True)
            yield Static("Mock interviews (enter opens the report)", classes="section-title")
            yield DataTable(id="progress-mocks", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        self.title = "Progress"
        self.when_backend_ready(self.load)

    @work(thread=True, exclusive=True, exit_on_error=False, group="progress")
    def load(self) -> None:
        progress = self.backend.progress()
        scores = [score for _, score in self.backend.score_history()]
        self.post_message(self.Loaded(progress, scores, self.backend.practical_run_count()))

    def on_progress_screen_loaded(self, message: Loaded) -> None:
        progress = message.progress
        streak = int(progress.get("streak_days") or 0)
        answers, due = len(message.scores), int(progress.get("due_reviews") or 0)
        self.query_one("#progress-summary", Static).update(
            f"{answers} answer{'' if answers == 1 else 's'} · "
            f"{message.runs} practical run{'' if message.runs == 1 else 's'} · "
            f"{due} review{'' if due == 1 else 's'} due · {streak}-day streak"
        )
        phases = self.query_one("#progress-phases", DataTable)
        phases.clear(columns=True)
        phases.add_columns("phase", "mastery", "seen", "practicals", "milestone")
        for phase in progress.get("phases", []):
            phases.add_row(
                phase["name"],
                percent(phase["mastery"]),
                f"{phase['questions_seen']}/{phase['questions_total']}",
                f"{phase['practicals_passed']}/{phase['practicals_total']}",
                "passed" if phase.get("milestone_passed") else "—",
            )
        self.query_one(ScoreChart).show(message.scores)
        topics = progress.get("topics", [])
        self._show_topics(topics)
        self._show_weakest(topics)
        self._show_mocks(progress.get("mocks", []))

    def _show_topics(self, topics: list[dict[str, Any]]) -> None:
        table = self.query_one("#progress-topics", DataTable)
        table.clear(columns=True)
        table.add_columns("topic", "mastery", "accuracy", "seen")
        for topic in topics:
            table.add_row(
                topic["id"],
                percent(topic["mastery"]),
                percent(topic.get("accuracy")),
                f"{topic['questions_seen']}/{topic['questions_total']}",
            )

    def _show_weakest(self, topics: list[dict[str, Any]]) -> None:
        seen = [t for t in topics if t.get("questions_seen")]
        weakest = sorted(seen, key=lambda t: t["mastery"])[:WEAKEST_SHOWN]  # as in the CLI
        text = (
            "Weakest topics (mastery): "
            + ", ".join(f"{t['id']} ({percent(t['mastery'])})" for t in weakest)
            if weakest
            else "Weakest topics: answer a few questions first."
        )
        self.query_one("#weakest", Static).update(text)

    def _show_mocks(self, mocks: list[dict[str, Any]]) -> None:
        table = self.query_one("#progress-mocks", DataTable)
        table.clear(columns=True)
        table.add_columns("started", "level", "min", "answered", "score", "verdict")
        for mock in mocks:
            table.add_row(
                str(mock["started_at"])[:16].replace("T", " "),
                mock["level"],
                str(mock["minutes"]),
                f"{mock['answered']}/{mock['total']}",
                percent(mock["score"]),
                mock.get("verdict")
                or ("unfinished" if mock.get("status") == "active" else str(mock.get("status"))),
                key=str(mock["session_id"]),
            )
        if not mocks:
            table.add_row("no mock interviews yet", "", "", "", "", "")

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "progress-mocks" and event.row_key.value:
            self.load_report(int(event.row_key.value))

    @work(thread=True, exclusive=True, exit_on_error=False, group="report")
    def load_report(self, session_id: int) -> None:
        self.post_message(self.ReportLoaded(self.backend.mock_report(session_id)))

    def on_progress_screen_report_loaded(self, message: ReportLoaded) -> None:
        from quiz.tui.screens.mock_report import MockReportScreen

        self.app.push_screen(MockReportScreen(message.report))
