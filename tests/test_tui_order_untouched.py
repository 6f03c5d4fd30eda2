"""An order question's shown order is a seeded shuffle that is never right, so left untouched it
is no answer: submitting it in practice asks for an order, and finishing a mock early on it
counts it as not reached (it earned partial credit for the pairs the shuffle left in order)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from quiz.tui import StartMock
from quiz.tui.backend import PracticeFilters
from quiz.tui.screens.mock import MockScreen
from quiz.tui.screens.mock_finish import FinishNowModal
from quiz.tui.screens.mock_report import MockReportScreen
from quiz.tui.screens.practice import PracticeScreen
from quiz.tui.widgets.question.order import OrderAnswer
from tests.test_tui_mock import settle
from tests.test_tui_support import FakeClock, make_app, question_view

SIZE = (100, 30)


def test_an_untouched_order_is_no_answer_in_practice_until_a_step_moves(tmp_path: Path) -> None:
    asyncio.run(_practice(tmp_path))


async def _practice(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await app.push_screen(
            PracticeScreen(app.backend.pick_practice(PracticeFilters(kind="order")))
        )
        await settle(pilot)
        order = app.screen.query_one(OrderAnswer)
        shown = [item_id for item_id, _ in order.items]
        assert order.answer_text() == ""
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not app.backend.store.attempts(mode="practice")
        assert any("Put the steps in order" in str(n.message) for n in app._notifications)
        order.focus()
        await pilot.press("down", "right_square_bracket")  # the second step moves down one
        await pilot.pause()
        moved = [shown[0], shown[2], shown[1], *shown[3:]]
        assert order.answer_text() == ",".join(moved)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert [a.answer for a in app.backend.store.attempts(mode="practice")] == [",".join(moved)]


def test_finishing_a_mock_early_on_an_untouched_order_counts_it_as_not_reached(
    tmp_path: Path,
) -> None:
    asyncio.run(_mock(tmp_path))


async def _mock(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock, start=StartMock("L3", 15))
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, MockScreen) and screen.mock is not None
        while (await question_view(pilot, screen)).instance.kind != "order":
            clock.advance(10)
            await pilot.press("ctrl+s")  # passed on
            await settle(pilot)
        skipped = screen.mock.answered
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert isinstance(app.screen, FinishNowModal)
        await pilot.press("f")
        await settle(pilot)
        await settle(pilot)
        report = app.screen
        assert isinstance(report, MockReportScreen)
        assert report.report["answered"] == skipped
        order_item = next(i for i in report.report["items"] if i["kind"] == "order")
        assert not order_item["answered"] and order_item["score"] == 0
