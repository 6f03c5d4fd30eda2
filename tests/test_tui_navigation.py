"""Keys that work everywhere: help, the command palette, escape back, q to quit."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.command import CommandPalette
from textual.pilot import Pilot

from quiz.tui.screens.help import HelpScreen
from quiz.tui.screens.home import HomeScreen
from quiz.tui.screens.progress import ProgressScreen
from tests.test_tui_support import make_app, screen_text

SIZE = (80, 24)


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_help_palette_back_and_quit(tmp_path: Path) -> None:
    asyncio.run(_navigation(tmp_path))


async def _navigation(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert "r Resume" not in screen_text(app)  # nothing to resume: the key is hidden
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await pilot.press(*"progress")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ProgressScreen)
        await pilot.press("m")  # not a progress key: nothing happens
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, HomeScreen)
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


def test_home_phase_titles_keep_the_names_used_everywhere_else(tmp_path: Path) -> None:
    """The filters and question headers say "Core Optimization": the home card says it too,
    before the progress has loaded and after, rather than switching to the roadmap's title."""

    async def run() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(110, 30)) as pilot:
            before = screen_text(app)
            await settle(pilot)
            after = screen_text(app)
            for name in ("Foundations", "Core Optimization", "Advanced Systems"):
                assert name in before
                assert f"{name}  0/2 questions seen" in after

    asyncio.run(run())
