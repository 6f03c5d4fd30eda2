"""The question browser from the keyboard: search, filter, flag, suspend (the card leaves the
review queue), open a question to practise it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import DataTable, Select

from quiz.tui.backend import PracticeFilters
from quiz.tui.screens.browser import BrowserScreen
from quiz.tui.screens.practice import PracticeScreen
from tests.test_tui_support import FakeClock, current_screen, make_app, screen_text

SIZE = (100, 30)


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_search_flag_suspend_and_open(tmp_path: Path) -> None:
    asyncio.run(_search_flag_suspend_and_open(tmp_path))


async def _search_flag_suspend_and_open(tmp_path: Path) -> None:
    clock = FakeClock()
    app = make_app(tmp_path, clock=clock)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        backend = app.backend
        [choice] = backend.pick_practice(PracticeFilters(kind="choice", count=1))
        wrong = next(c.id for c in choice.choices if c.id != choice.key_json())
        assert not backend.submit_practice(choice, wrong, duration_s=10).correct  # rated Again
        clock.advance(24 * 3600)
        assert backend.progress()["due_reviews"] == 1

        await pilot.press("b")
        await settle(pilot)
        browser = current_screen(app, BrowserScreen)
        assert "6 of 6 questions" in screen_text(app)
        table = browser.query_one(DataTable)
        assert table.has_focus

        await pilot.press("slash", *"throughput", "enter")  # search, then back to the table
        await settle(pilot)
        assert [row.question_id for row in browser.shown] == ["tiny-choice"]
        assert "due" in screen_text(app) and "0%" in screen_text(app)  # due, last score 0 %
        await pilot.press("f", "s")  # flag it, suspend it
        await settle(pilot)
        flags = backend.store.question_flags()
        assert flags["tiny-choice"] == (True, True)
        assert backend.progress()["due_reviews"] == 0  # suspended: out of the review queue
        assert "⚑⏸" in screen_text(app)

        await pilot.press("c")  # clear: everything again
        await settle(pilot)
        assert len(browser.shown) == 6
        browser.query_one("#filter-show", Select).value = "flagged"
        await settle(pilot)
        assert [row.question_id for row in browser.shown] == ["tiny-choice"]
        browser.query_one("#filter-show", Select).value = "all"
        browser.query_one("#filter-kind", Select).value = "order"
        await settle(pilot)
        assert [row.question_id for row in browser.shown] == ["tiny-order"]

        table.focus()
        await pilot.press("enter")  # practise it
        await settle(pilot)
        practice = app.screen
        assert isinstance(practice, PracticeScreen)
        assert [i.question_id for i in practice.instances] == ["tiny-order"]
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is browser

        await pilot.press("c")
        await settle(pilot)
        table.move_cursor(row=[r.question_id for r in browser.shown].index("tiny-choice"))
        await pilot.press("s")  # unsuspend: due again
        await settle(pilot)
        assert backend.progress()["due_reviews"] == 1


def test_a_practical_question_opens_its_practical_page(tmp_path: Path) -> None:
    asyncio.run(_practical_opens_its_page(tmp_path))


async def _practical_opens_its_page(tmp_path: Path) -> None:
    from quiz.tui.screens.practical import PracticalScreen
    from tests.test_tui_mock import PRACTICAL_QUESTION
    from tests.test_tui_support import TINY_BANK

    app = make_app(tmp_path, bank_text=TINY_BANK + PRACTICAL_QUESTION)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        browser = current_screen(app, BrowserScreen)
        browser.query_one("#filter-kind", Select).value = "practical"
        await settle(pilot)
        assert [row.question_id for row in browser.shown] == ["capacity-plan-70b"]
        browser.query_one(DataTable).focus()
        await pilot.press("enter")
        await settle(pilot)
        page = app.screen
        assert isinstance(page, PracticalScreen) and page.practical.id == "capacity-plan-70b"
