"""A mock interview under the clock: no feedback, every answer saved as it is given.

When time runs out the answer on screen is submitted as it stands and the interview ends.
ctrl+f finishes it early (after asking): the answer on screen, if any, is submitted and the
questions not reached count as unanswered. Leaving (escape, q) keeps it resumable from the
home screen; the clock keeps running while the candidate is away, except in practice mode,
where leaving pauses it. Starting a mock while another is unfinished asks whether to resume
that one or abandon it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Static
from textual.worker import Worker, WorkerState

from quiz.tui.screens.mock_practical import MockPracticalItem
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.mock.countdown import Countdown
from quiz.tui.widgets.question.base import AnswerSubmitted
from quiz.tui.widgets.question.view import QuestionView, format_seconds

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.study.mock import MockSession

TICK_S = 0.5
HEARTBEAT_EVERY = 30  # ticks: the elapsed time is saved every 15 s even without an answer


class MockScreen(MockPracticalItem):
    """Starts a new interview (``level``, ``minutes``) or resumes ``resume_id``."""

    BINDINGS = [
        Binding("ctrl+s", "submit", "Submit & next", id="mock.submit"),
        Binding("ctrl+s", "skip", "Skip", id="mock.skip"),
        Binding("escape", "leave", "Leave", id="mock.leave"),
        Binding("e", "edit_here", "Edit", id="mock.edit_here"),
        Binding("x", "edit_external", "$EDITOR", id="mock.edit_external"),
        Binding("g", "grade", "Grade & submit", id="mock.grade"),
        Binding("ctrl+f", "finish_now", "Finish now", id="mock.finish_now"),
    ]

    class ActiveFound(Message):
        def __init__(self, unfinished: dict[str, Any]) -> None:
            super().__init__()
            self.unfinished = unfinished

    class Loaded(Message):
        def __init__(self, mock: MockSession, instance: Instance | None) -> None:
            super().__init__()
            self.mock = mock
            self.instance = instance

    class AnswerRecorded(Message):
        def __init__(self, next_instance: Instance | None) -> None:
            super().__init__()
            self.next_instance = next_instance

    class Finished(Message):
        def __init__(self, report: dict[str, Any]) -> None:
            super().__init__()
            self.report = report

    def __init__(
        self,
        *,
        level: str = "L2",
        minutes: int = 30,
        practice_mode: bool = False,
        resume_id: int | None = None,
    ) -> None:
        super().__init__()
        self.level, self.minutes, self.resume_id = level, minutes, resume_id
        self.practice_mode = practice_mode
        self.mock: MockSession | None = None
        self.question_started: datetime | None = None
        self.busy = True  # loading, recording or finishing: no submit meanwhile
        self.ending = False
        self.finishing_early = False  # the candidate asked to finish: the answer in flight ends it
        self.ticks = 0
        self.init_practical_item()

    def compose(self) -> ComposeResult:
        self.title = "Mock interview"
        yield QuizHeader()
        with Horizontal(id="mock-status"):
            yield Static("Preparing the interview…", id="mock-progress", markup=False)
            yield Countdown(id="countdown")
        yield VerticalScroll(id="mock-body")
        yield Footer()

    def on_mount(self) -> None:
        self.when_backend_ready(self.load)
        self.set_interval(TICK_S, self.tick)

    @work(thread=True, exclusive=True, exit_on_error=False, group="mock", name="mock-load")
    def load(self, abandon_id: int | None = None) -> None:
        if abandon_id is not None:
            self.backend.abandon_mock(abandon_id)
        if self.resume_id is not None:
            mock = self.backend.resume_mock(self.resume_id)
        else:
            unfinished = self.backend.unfinished_mocks()
            if unfinished:
                self.post_message(self.ActiveFound(unfinished[0]))
                return
            mock = self.backend.start_mock(
                self.level, self.minutes, practice_mode=self.practice_mode
            )
        over = mock.done or mock.time_up  # time may have run out while the candidate was away
        instance = None if over else self.backend.mock_instance(mock)
        self.post_message(self.Loaded(mock, instance))

    def on_mock_screen_active_found(self, message: ActiveFound) -> None:
        from quiz.tui.screens.mock_choice import ResumeOrAbandonModal

        session_id = int(message.unfinished["session_id"])

        def chosen(choice: str | None) -> None:
            if choice == "resume":
                self.resume_id = session_id
                self.load()
            elif choice == "abandon":
                self.notify(f"Mock interview #{session_id} was abandoned.")
                self.load(abandon_id=session_id)
            else:
                self.app.pop_screen()

        self.app.push_screen(ResumeOrAbandonModal(message.unfinished), chosen)

    async def on_mock_screen_loaded(self, message: Loaded) -> None:
        self.mock = message.mock
        self.resume_id = message.mock.session_id
        self.title = f"Mock interview #{self.mock.session_id} · {self.mock.level}"
        self.busy = False
        if message.instance is None:
            await self.finish()
        else:
            await self.show_question(message.instance)
        await self.tick()

    def clock(self) -> datetime:
        return self.quiz_app.clock()

    async def show_question(self, instance: Instance) -> None:
        assert self.mock is not None
        body = self.query_one("#mock-body", VerticalScroll)
        await body.remove_children()
        number, total = self.mock.answered + 1, len(self.mock.items)
        view = QuestionView(instance, number, total, budget=True, work_practical=True)
        await body.mount(view)
        label = "Submit & next  (ctrl+s)" if instance.kind != "practical" else "Skip  (ctrl+s)"
        await body.mount(Button(label, id="submit", variant="primary"))
        body.scroll_home(animate=False)
        self.call_after_refresh(view.focus_answer)
        spent = self.mock.elapsed_s() - sum(a["duration_s"] for a in self.mock.answers)
        self.question_started = self.clock() - timedelta(seconds=max(0.0, spent))  # as recorded
        if instance.kind == "practical":
            self.practical_shown(self.mock)
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("edit_here", "edit_external", "grade", "skip"):
            return self.work_panel is not None
        if action == "submit":  # a practical item is skipped instead (the footer says so)
            return self.work_panel is None
        if action == "finish_now":
            return self.mock is not None and not self.ending
        return True

    async def tick(self) -> None:
        """Refresh the clock; when time is up, submit what is on screen and end."""
        mock = self.mock
        if mock is None:
            return
        remaining = mock.remaining_s()
        self.query_one(Countdown).remaining_s = remaining
        item = mock.current()
        if item is not None and self.question_started is not None:
            spent = (self.clock() - self.question_started).total_seconds()
            over = "  — over budget" if spent > item.budget_s else ""
            practice = " · practice mode" if mock.practice_mode else ""
            self.query_one("#mock-progress", Static).update(
                f"Mock {mock.level}{practice} · this question "
                f"{format_seconds(spent)} of {format_seconds(item.budget_s)}{over}"
            )
        if remaining <= 0 and not self.ending:
            self.ending = True
            self.stop_grading()
            while self.app.screen is not self:  # the editor saves as it closes
                self.app.pop_screen()
            self.notify("Time is up: the answer on screen was submitted.", severity="warning")
            if not self.busy:  # else the answer in flight is the last one
                await self.submit_current(final=True)
            return
        self.ticks += 1
        if self.ticks % HEARTBEAT_EVERY == 0 and not self.busy:
            self.heartbeat(mock)

    @work(thread=True, exit_on_error=False, group="mock-heartbeat")
    def heartbeat(self, mock: MockSession) -> None:
        self.backend.mock_heartbeat(mock)

    async def on_answer_submitted(self, event: AnswerSubmitted) -> None:
        event.stop()
        await self.action_submit()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "submit":
            event.stop()
            await self.action_submit()
        elif self.on_practical_work_button(event.button.id or ""):
            event.stop()

    def action_finish_now(self) -> None:
        """Ask, then submit the answer on screen and finish (the rest count as unanswered)."""
        from quiz.tui.screens.mock_finish import FinishNowModal

        mock = self.mock
        if mock is None or self.ending or self.busy:
            return

        async def chosen(finish: bool | None) -> None:
            if not finish or self.ending or self.busy:
                return
            self.finishing_early = True
            self.stop_grading()
            views = self.query(QuestionView)
            if views and views.first().answer_text().strip():
                await self.submit_current(final=False)
            else:  # nothing on screen: the question counts as not reached, not as passed on
                await self.finish()

        unreached = max(0, len(mock.items) - mock.answered - 1)
        remaining = format_seconds(mock.remaining_s())
        self.app.push_screen(FinishNowModal(unreached, remaining), chosen)

    async def action_skip(self) -> None:
        await self.action_submit()

    async def action_submit(self) -> None:
        if not self.busy and not self.ending and self.mock is not None:
            await self.submit_current(final=False)

    async def submit_current(self, *, final: bool) -> None:
        assert self.mock is not None
        views = self.query(QuestionView)
        if self.mock.done or not views:
            await self.finish()
            return
        view = views.first()
        view.freeze()
        self.busy = True
        self.record(self.mock, view.answer_text(), final)

    @work(thread=True, exclusive=True, exit_on_error=False, group="mock", name="mock-record")
    def record(self, mock: MockSession, answer: str, final: bool) -> None:
        self.backend.record_mock_answer(mock, answer, final=final)
        next_instance = None if mock.done else self.backend.mock_instance(mock)
        self.post_message(self.AnswerRecorded(next_instance))

    async def on_mock_practical_item_practical_recorded(
        self, message: MockPracticalItem.PracticalRecorded
    ) -> None:
        self.grading = False
        await self.on_mock_screen_answer_recorded(self.AnswerRecorded(message.next_instance))

    async def on_mock_screen_answer_recorded(self, message: AnswerRecorded) -> None:
        self.busy = False
        if self.ending or self.finishing_early or message.next_instance is None:
            await self.finish()
        else:
            await self.show_question(message.next_instance)

    async def finish(self) -> None:
        assert self.mock is not None
        self.busy = self.ending = True
        await self.query_one("#mock-body", VerticalScroll).remove_children()
        self.query_one("#mock-progress", Static).update("Scoring the interview…")
        self.finish_mock(self.mock)

    @work(thread=True, exclusive=True, exit_on_error=False, group="mock", name="mock-finish")
    def finish_mock(self, mock: MockSession) -> None:
        self.post_message(self.Finished(self.backend.finish_mock(mock)))

    def on_mock_screen_finished(self, message: Finished) -> None:
        from quiz.tui.screens.mock_self_check import MockSelfCheckScreen

        self.app.switch_screen(MockSelfCheckScreen(message.report))  # the report follows

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state != WorkerState.ERROR:
            return
        from quiz.study.mock import MockTimeUp

        if isinstance(event.worker.error, MockTimeUp):
            self.ending = True  # the submit lost a race with the clock: the interview is over
        if event.worker.name == "mock-record" and self.ending:
            # time is up: an answer that could not be recorded must not hold the end open
            self.call_later(self.finish)
        elif event.worker.name == "mock-record":
            self.busy = False  # e.g. an unreadable number: fix it and submit again
            self.finishing_early = False
            self.grading_failed()
            for view in self.query(QuestionView):
                view.freeze(False)
                view.focus_answer()
        elif event.worker.name == "mock-load":
            self.query_one("#mock-progress", Static).update("Could not start the interview.")

    def action_leave(self) -> None:
        mock = self.mock
        if mock is not None and not self.ending:
            self.save_before_quit()
            if mock.practice_mode:
                self.notify("Paused (practice mode): resume it from the home screen (r).")
            else:
                self.notify(
                    "Saved. The clock keeps running while you are away, as in a real "
                    "interview: resume it from the home screen (r).",
                    timeout=8,
                )
        self.app.pop_screen()

    def save_before_quit(self) -> None:
        """Count the time spent so far; the interview stays resumable."""
        if self.mock is not None and not self.ending and not self.busy:
            self.backend.mock_heartbeat(self.mock)
