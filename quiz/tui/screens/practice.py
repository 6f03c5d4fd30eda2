"""A practice round: one question at a time, feedback after each answer.

Every answer is stored as it is given. A free-text answer is graded at once but stored when the
user rates their recall (or moves on, or quits), so the self-rating can steer its review.
"I don't know" (ctrl+g) stores a blank attempt rated Again and shows the answer. The round ends
(or is left with escape) on a summary listing every miss, with "retry my misses".
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Footer, Static
from textual.worker import Worker, WorkerState

from quiz.tui.backend import MAX_ANSWER_CHARS
from quiz.tui.screens.base import QuizScreen
from quiz.tui.widgets.header import QuizHeader
from quiz.tui.widgets.question.base import AnswerSubmitted
from quiz.tui.widgets.question.feedback import (
    SELF_RATINGS,
    FeedbackPanel,
    SelfRated,
    verdict_text,
)
from quiz.tui.widgets.question.round_summary import RoundResult, RoundSummary
from quiz.tui.widgets.question.self_check import SelfCheckConfirmed
from quiz.tui.widgets.question.view import QuestionView

if TYPE_CHECKING:
    from quiz.bank import Instance
    from quiz.grading import Verdict


@dataclass
class PendingShort:
    """A graded free-text answer waiting for its self-rating before it is stored."""

    instance: Instance
    answer: str
    duration_s: float
    verdict: Verdict  # the grader's, or the user's self-check once confirmed


class PracticeScreen(QuizScreen):
    """Question, answer, feedback, next; a summary at the end of the round."""

    BINDINGS = [
        Binding("escape", "leave", "Leave", id="practice.back"),
        Binding("ctrl+s", "submit", "Submit", id="practice.submit"),
        Binding("ctrl+g", "dont_know", "I don't know", id="practice.dont_know", priority=True),
        Binding("n,enter", "next", "Next", id="practice.next"),
        Binding("r", "retry_misses", "Retry misses", id="practice.retry_misses"),
        *(
            Binding(str(n), f"rate('{rating}')", rating.title(), id=f"practice.rate_{rating}")
            for n, rating in enumerate(SELF_RATINGS, start=1)
        ),
    ]

    class AnswerGraded(Message):
        def __init__(
            self, verdict: Verdict, pending: PendingShort | None, answer: str, skipped: bool
        ) -> None:
            super().__init__()
            self.verdict = verdict
            self.pending = pending
            self.answer = answer
            self.skipped = skipped

    class AnswerStored(Message):
        def __init__(self, rating: str | None) -> None:
            super().__init__()
            self.rating = rating

    def __init__(self, instances: list[Instance]) -> None:
        super().__init__()
        self.instances = instances
        self.index = 0
        self.started = time.monotonic()
        self.verdict: Verdict | None = None
        self.grading = False
        self.pending: PendingShort | None = None
        self.results: list[RoundResult] = []
        self.finished = False

    def compose(self) -> ComposeResult:
        self.title = "Practice"
        yield QuizHeader()
        yield VerticalScroll(id="practice-body")
        yield Footer()

    async def on_mount(self) -> None:
        await self.show_question()

    @property
    def instance(self) -> Instance:
        return self.instances[self.index]

    async def show_question(self) -> None:
        body = self.query_one("#practice-body", VerticalScroll)
        await body.remove_children()
        view = QuestionView(self.instance, self.index + 1, len(self.instances), budget=False)
        await body.mount(view)
        if self.instance.kind != "practical":
            await body.mount(
                Horizontal(
                    Button("Submit", id="submit", variant="primary"),
                    Button("I don't know (ctrl+g)", id="dont-know"),
                    classes="buttons",
                )
            )
        body.scroll_home(animate=False)
        self.call_after_refresh(view.focus_answer)
        self.verdict, self.grading, self.started = None, False, time.monotonic()
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "retry_misses":
            return self.finished and any(r.missed for r in self.results)
        if self.finished and action in ("submit", "dont_know", "next", "rate"):
            return False
        if action in ("submit", "dont_know"):
            return self.verdict is None and not self.grading
        if action == "next":
            return self.verdict is not None or self.instance.kind == "practical"
        if action == "rate":
            return self.pending is not None and not self.pending.verdict.needs_self_check
        return True

    # Submitting ----------------------------------------------------------------------------

    def on_answer_submitted(self, event: AnswerSubmitted) -> None:
        event.stop()
        self.action_submit()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        actions = {
            "submit": "submit",
            "next": "next",
            "again": "app.pop_screen",
            "home": "app.home",
            "retry": "retry_misses",
            "dont-know": "dont_know",
        }
        if event.button.id in actions:
            event.stop()
            await self.run_action(actions[event.button.id])

    def action_submit(self) -> None:
        if self.verdict is not None or self.grading:
            return
        view = self.query_one(QuestionView)
        answer = view.answer_text()
        if not answer:
            first = "Put the steps in order" if self.instance.kind == "order" else "Give an answer"
            self.notify(f"{first} first, or ctrl+g: I don't know.", severity="warning")
            return
        if len(answer) > MAX_ANSWER_CHARS:
            self.notify(f"Long answer: only its first {MAX_ANSWER_CHARS} characters are graded.")
            answer = answer[:MAX_ANSWER_CHARS]
        view.freeze()
        self.grading = True
        self.refresh_bindings()
        self.grade_answer(self.instance, answer, time.monotonic() - self.started)

    def action_dont_know(self) -> None:
        if self.verdict is not None or self.grading or self.finished:
            return
        self.query_one(QuestionView).freeze()
        self.grading = True
        self.refresh_bindings()
        self.skip_question(self.instance, time.monotonic() - self.started)

    @work(thread=True, exclusive=True, exit_on_error=False, group="grade", name="grade")
    def skip_question(self, instance: Instance, duration_s: float) -> None:
        verdict = self.backend.skip_practice(instance, duration_s=duration_s)
        self.post_message(self.AnswerGraded(verdict, None, "", skipped=True))

    @work(thread=True, exclusive=True, exit_on_error=False, group="grade", name="grade")
    def grade_answer(self, instance: Instance, answer: str, duration_s: float) -> None:
        if instance.kind == "short":
            verdict, notice = self.backend.grade_short(instance, answer)
            if notice:
                self.app.call_from_thread(self.notify, notice, severity="warning", timeout=6)
            pending = PendingShort(instance, answer, duration_s, verdict)
            self.post_message(self.AnswerGraded(verdict, pending, answer, skipped=False))
        else:
            verdict = self.backend.submit_practice(instance, answer, duration_s=duration_s)
            self.post_message(self.AnswerGraded(verdict, None, answer, skipped=False))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.name == "grade" and event.state == WorkerState.ERROR:
            self.grading = False  # e.g. an answer the kind cannot read: let the user fix it
            self.query_one(QuestionView).freeze(False)
            self.query_one(QuestionView).focus_answer()
            self.refresh_bindings()

    async def on_practice_screen_answer_graded(self, message: AnswerGraded) -> None:
        self.grading = False
        self.verdict = message.verdict
        self.pending = message.pending
        self.results.append(
            RoundResult(self.instance, message.verdict, message.answer, message.skipped)
        )
        body = self.query_one("#practice-body", VerticalScroll)
        for button in body.query("#submit, #dont-know"):
            button.remove()
        panel = FeedbackPanel(self.instance, message.verdict, ask_rating=self.pending is not None)
        next_button = Button("Next  (n)", id="next", variant="primary")
        # Awaited: Textual parses Markdown in a thread, and a panel scrolled to before its
        # explanation is laid out lands wherever the half-built page let it.
        await body.mount(panel, next_button)
        next_button.focus(scroll_visible=False)
        self.call_after_refresh(panel.scroll_visible, top=True, animate=False)
        self.refresh_bindings()

    # Rating, moving on ---------------------------------------------------------------------

    def on_self_rated(self, message: SelfRated) -> None:
        self.action_rate(message.rating)

    def on_self_check_confirmed(self, message: SelfCheckConfirmed) -> None:
        """The user's ticks are the score: shown at once, stored with the rating."""
        if self.pending is None:
            return
        self.pending.verdict = message.verdict
        self.results[-1] = replace(self.results[-1], verdict=message.verdict)
        self.query_one("#verdict", Static).update(
            verdict_text(message.verdict.score, message.verdict.correct)
        )
        self.refresh_bindings()

    def action_rate(self, rating: str) -> None:
        if self.pending is not None and self.pending.verdict.needs_self_check:
            self.notify("Confirm the key points first (ctrl+y), then rate.", timeout=3)
            return
        pending, self.pending = self.pending, None
        if pending is None:
            return
        self.store_short(pending, rating)
        for buttons in self.query("#rating-buttons"):
            buttons.disabled = True
        self.refresh_bindings()

    @work(thread=True, exit_on_error=False, group="store")
    def store_short(self, pending: PendingShort, rating: str | None) -> None:
        self.backend.submit_verdict(
            pending.instance,
            pending.answer,
            pending.verdict,
            duration_s=pending.duration_s,
            self_rating=rating,
        )
        self.post_message(self.AnswerStored(rating))

    def on_practice_screen_answer_stored(self, message: AnswerStored) -> None:
        if message.rating:
            self.notify(f"Saved, rated {message.rating}.", timeout=2)

    async def action_next(self) -> None:
        if self.finished or (self.verdict is None and self.instance.kind != "practical"):
            return
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.store_short(pending, None)
        if self.index + 1 < len(self.instances):
            self.index += 1
            await self.show_question()
        else:
            await self.show_summary()

    async def show_summary(self, *, ended_early: bool = False) -> None:
        body = self.query_one("#practice-body", VerticalScroll)
        await body.remove_children()
        await body.mount(RoundSummary(self.results, len(self.instances), ended_early=ended_early))
        buttons = [Button("Another round", id="again"), Button("Home", id="home")]
        if any(r.missed for r in self.results):
            buttons.insert(0, Button("Retry my misses (r)", id="retry", variant="primary"))
        else:
            buttons[0].variant = "primary"
        await body.mount(Horizontal(*buttons, classes="buttons"))
        self.finished = True
        self.refresh_bindings()
        body.scroll_home(animate=False)
        buttons[0].focus(scroll_visible=False)

    async def action_leave(self) -> None:
        """Mid-round, with something answered: the summary first; from the summary, home (its
        "Another round" button goes back to the filters). Before any answer: the filters."""
        if self.finished:
            self.quiz_app.action_home()
            return
        if not self.results:
            self.app.pop_screen()
            return
        if self.pending is not None:
            pending, self.pending = self.pending, None
            self.store_short(pending, None)
        await self.show_summary(ended_early=True)

    def action_retry_misses(self) -> None:
        misses = [r.instance for r in self.results if r.missed]
        if self.finished and misses:
            self.app.switch_screen(PracticeScreen(misses))

    def save_before_quit(self) -> None:
        """Quitting with a rated-or-not free-text answer on screen still stores it."""
        pending, self.pending = self.pending, None
        if pending is not None:
            self.backend.submit_verdict(
                pending.instance, pending.answer, pending.verdict, duration_s=pending.duration_s
            )
