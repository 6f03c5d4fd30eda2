"""The plan screen: set the dates from the keyboard, see the warning when the time left is
shorter than the roadmap, and the dashboard's plan line."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.pilot import Pilot
from textual.widgets import Input

from quiz.tui.screens.home import HomeScreen
from quiz.tui.screens.plan import PlanScreen
from tests.test_tui_support import FakeClock, make_app, notifications, screen_text

SIZE = (100, 30)


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_set_the_plan_and_see_the_warning(tmp_path: Path) -> None:
    asyncio.run(_set_the_plan(tmp_path))


async def _set_the_plan(tmp_path: Path) -> None:
    app = make_app(tmp_path, clock=FakeClock())  # today is 2025-03-03
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        assert "No study plan yet — press t." in screen_text(app)
        await pilot.press("t")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, PlanScreen)
        assert screen.query_one("#plan-start", Input).value == "2025-03-03"
        await pilot.press("ctrl+s")  # the interview field shows only its format
        await settle(pilot)
        assert notifications(app)[-1] == "Interview date: empty (use YYYY-MM-DD)"
        await pilot.press(*"not a date", "enter")
        await settle(pilot)
        assert notifications(app)[-1] == "Interview date: not a date: 'not a date' (use YYYY-MM-DD)"
        assert app.backend.progress()["plan"]["start"] is None  # nothing saved
        screen.query_one("#plan-interview", Input).value = ""
        await pilot.press(*"2025-04-21", "enter")  # 7 weeks for a 24-week roadmap
        await settle(pilot)
        plan = app.backend.progress()["plan"]
        assert (plan["start"], plan["interview"]) == ("2025-03-03", "2025-04-21")
        text = screen_text(app)
        assert "Interview on 2025-04-21 (49 days left)" in text
        assert "Warning: 7.0 weeks left for the 24-week roadmap" in text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, HomeScreen)
        assert "Warning: 7.0 weeks left" in screen_text(app)
