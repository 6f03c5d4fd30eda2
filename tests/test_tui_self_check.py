"""The self-check of a short answer in the app: key points with the detected ones pre-ticked,
the user's corrections, and the confirmed score."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml
from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.widgets import Checkbox, TextArea

from quiz.bank import instantiate, load_bank
from quiz.grading import grade
from quiz.tui import StartMock
from quiz.tui.screens.mock import MockScreen
from quiz.tui.screens.mock_report import MockReportScreen
from quiz.tui.screens.mock_self_check import MockSelfCheckScreen
from quiz.tui.screens.practice import PracticeScreen
from quiz.tui.widgets.question.self_check import SelfCheck, SelfCheckConfirmed
from tests.test_tui_support import make_app, screen_text

PTQ = instantiate(load_bank().get("what-is-ptq"))
UNSURE = grade(
    PTQ,
    "You take the finished network and squeeze every number in it into a smaller box, "
    "picking the box sizes from a handful of example prompts; the chip then spends less of "
    "each step waiting on its memory.",
)


class Host(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.confirmed: list[SelfCheckConfirmed] = []

    def compose(self) -> ComposeResult:
        yield SelfCheck(PTQ, UNSURE)

    def on_self_check_confirmed(self, message: SelfCheckConfirmed) -> None:
        self.confirmed.append(message)


def test_detected_points_are_pre_ticked_and_corrections_are_the_score() -> None:
    asyncio.run(_corrections_are_the_score())


async def _corrections_are_the_score() -> None:
    assert UNSURE.needs_self_check
    app = Host()
    async with app.run_test(size=(100, 40)) as pilot:
        boxes = list(app.query(Checkbox))
        assert [b.value for b in boxes] == [p.status == "covered" for p in UNSURE.points]
        for box in boxes:  # the user ticks every point but the last
            box.value = box is not boxes[-1]
        await pilot.pause()
        score = str(app.query_one("#self-check-score").render())
        assert "Score with these ticks: 89%" in score
        labels = [str(box.label) for box in boxes]  # ticks read in words, not colour alone
        assert all(label.startswith("✓") for label in labels[:-1])
        assert labels[-1].startswith("○")
        await pilot.press("ctrl+y")
        await pilot.pause()
        (message,) = app.confirmed
        assert message.covered == frozenset(range(len(boxes) - 1))
        assert message.verdict.score == 8 / 9 and message.verdict.correct
        assert all(box.disabled for box in boxes)
        await pilot.press("ctrl+y")  # once only
        await pilot.pause()
        assert len(app.confirmed) == 1


# --- in the practice round and the mock interview ---------------------------------------------

PTQ_BANK = yaml.safe_dump([load_bank().get("what-is-ptq").model_dump(mode="json")])
UNRECOGNISED = (
    "You take the finished network and squeeze every number in it into a smaller box, "
    "picking the box sizes from a handful of example prompts; the chip then spends less of "
    "each step waiting on its memory, and you check the answers did not get worse."
)


async def settle(pilot: Pilot) -> None:
    for _ in range(200):
        if not pilot.app.workers._workers:
            break
        await pilot.pause(0.05)
    await pilot.pause()


def test_practice_shows_the_self_check_and_records_the_ticks(tmp_path: Path) -> None:
    asyncio.run(_practice_self_check(tmp_path))


async def _practice_self_check(tmp_path: Path) -> None:
    app = make_app(tmp_path, bank_text=PTQ_BANK)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        await pilot.press("p")
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PracticeScreen) and screen.instance.kind == "short"
        screen.query_one(TextArea).post_message(events.Paste(UNRECOGNISED))
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        check = screen.query_one(SelfCheck)
        assert "Not sure" in screen_text(app) and "until you check the key points" in screen_text(
            app
        )
        await pilot.press("3")  # rating waits for the self-check
        await settle(pilot)
        assert app.backend.store.attempts() == []
        for box in check.query(Checkbox):
            box.value = box.id != "point-3"  # every point but the fourth
        await pilot.pause()
        check.action_confirm()
        await settle(pilot)
        assert "89%" in screen_text(app)
        await pilot.press("3")
        await settle(pilot)
        (attempt,) = app.backend.store.attempts()
        assert attempt.score == pytest.approx(8 / 9) and attempt.correct and attempt.rating == 3


def test_the_mock_report_starts_with_the_self_check(tmp_path: Path) -> None:
    asyncio.run(_mock_self_check(tmp_path))


async def _mock_self_check(tmp_path: Path) -> None:
    app = make_app(tmp_path, bank_text=PTQ_BANK, start=StartMock("L1", 5))
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MockScreen) and screen.mock is not None
        assert len(screen.mock.items) == 1
        screen.query_one(TextArea).post_message(events.Paste(UNRECOGNISED))
        await pilot.pause()
        await pilot.press("ctrl+s")
        await settle(pilot)
        await settle(pilot)
        checking = app.screen
        assert isinstance(checking, MockSelfCheckScreen), screen_text(app)
        assert "Before the verdict" in screen_text(app)
        check = checking.query_one(SelfCheck)
        for box in check.query(Checkbox):
            box.value = True
        await pilot.pause()
        check.action_confirm()
        await settle(pilot)
        await pilot.press("ctrl+r")
        await settle(pilot)
        report_screen = app.screen
        assert isinstance(report_screen, MockReportScreen), screen_text(app)
        assert report_screen.report["score"] == 1.0
        assert report_screen.report["verdict"] == "strong hire"
