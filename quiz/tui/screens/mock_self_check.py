"""The mock interview's self-check, the first part of its report: every short answer the grader
was unsure of, with the question, the user's answer and the model answer beside its key points.
Each confirmed check rescores that answer; then the report (and its verdict band) is shown.
With nothing to check, the report follows at once."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Markdown, Static
from textual.worker import Worker

from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.question.self_check import SelfCheck, SelfCheckConfirmed

if TYPE_CHECKING:
    from quiz.study.self_check import PendingCheck


class MockSelfCheckScreen(QuizScreen):
    """``report`` is the finished interview's ``MockReport.to_dict()``."""

    BINDINGS = [
        Binding("ctrl+r", "report", "Show the report", id="mock_self_check.report"),
    ]

    class Loaded(Message):
        def __init__(self, pending: list[PendingCheck]) -> None:
            super().__init__()
            self.pending = pending

    class Checked(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class ReportLoaded(Message):
        def __init__(self, report: dict[str, Any]) -> None:
            super().__init__()
            self.report = report

    def __init__(self, report: dict[str, Any]) -> None:
        super().__init__()
        self.report = report
        self.session_id = int(report["session_id"])
        self.left: set[int] = set()
        self.checks_loader: Worker[None] | None = None
        self.report_loader: Worker[None] | None = None

    def compose(self) -> ComposeResult:
        yield QuizHeader()
        with VerticalScroll(id="self-check-body"):
            yield Static("Reading your short answers…", id="self-check-intro")
        yield Footer()
        self.title = f"Mock interview #{self.session_id}: self-check"

    def on_mount(self) -> None:
        self.checks_loader = self.load_pending()

    @work(thread=True, exclusive=True, exit_on_error=False, group="self-check-load")
    def load_pending(self) -> None:
        self.post_message(self.Loaded(self.backend.mock_self_checks(self.session_id)))

    async def on_mock_self_check_screen_loaded(self, message: Loaded) -> None:
        if not message.pending:
            if self.checks_loader is not None:  # leaving would cancel the worker if still running
                await self.checks_loader.wait()
            self.show_report(self.report)
            return
        self.left = {check.index for check in message.pending}
        body = self.query_one("#self-check-body", VerticalScroll)
        self.query_one("#self-check-intro", Static).update(
            f"Before the verdict: the grader was unsure of {len(message.pending)} of your short "
            "answers. Tick the key points each one makes (compare the model answer) and confirm "
            "with ctrl+y; then show the report (ctrl+r)."
        )
        for check in message.pending:
            await body.mount(self._item(check))
        await body.mount(Button("Show the report (ctrl+r)", id="show-report", variant="primary"))
        for checkbox in self.query("SelfCheck Checkbox"):
            checkbox.focus()
            break

    def _item(self, check: PendingCheck) -> Vertical:
        instance = check.instance
        return Vertical(
            Static(f"{check.index + 1}. {instance.title}", classes="section-title"),
            Markdown(instance.prompt),
            Static(f"Your answer: {check.answer}", markup=False),
            Static("Model answer", classes="section-title"),
            Markdown(instance.model_answer or ""),
            SelfCheck(instance, check.verdict),
            classes="self-check-item",
            id=f"item-{check.index}",
        )

    def on_self_check_confirmed(self, message: SelfCheckConfirmed) -> None:
        item = message.control.parent
        if item is not None and item.id and item.id.startswith("item-"):
            self.save(int(item.id.removeprefix("item-")), message.covered)

    @work(thread=True, exit_on_error=False, group="self-check-save")
    def save(self, index: int, covered: frozenset[int]) -> None:
        self.backend.apply_mock_self_check(self.session_id, index, covered)
        self.post_message(self.Checked(index))

    def on_mock_self_check_screen_checked(self, message: Checked) -> None:
        self.left.discard(message.index)
        if not self.left:
            self.notify("Every answer checked: the report counts your scores.", timeout=3)
            self.query_one("#show-report", Button).focus()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "show-report":
            event.stop()
            await self.run_action("report")

    def action_report(self) -> None:
        if self.left:
            self.notify(
                f"{len(self.left)} answer(s) not checked: they keep the grader's score.",
                timeout=4,
            )
        self.report_loader = self.load_report()

    @work(thread=True, exclusive=True, exit_on_error=False, group="self-check-report")
    def load_report(self) -> None:
        self.post_message(self.ReportLoaded(self.backend.mock_report(self.session_id)))

    async def on_mock_self_check_screen_report_loaded(self, message: ReportLoaded) -> None:
        if self.report_loader is not None:
            await self.report_loader.wait()
        self.show_report(message.report)

    def show_report(self, report: dict[str, Any]) -> None:
        from quiz.tui.screens.mock_report import MockReportScreen

        self.app.switch_screen(MockReportScreen(report))
