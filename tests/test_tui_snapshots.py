"""Snapshots of the main screens (pytest-textual-snapshot): fixed clock, fixed seeds, the tiny
bank and a tmp database. Update with `pytest tests/test_tui_snapshots.py --snapshot-update`
after checking the new pictures by eye."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Markdown
from textual.widgets.markdown import MarkdownBlock

from quiz.tui import StartMock
from quiz.tui.backend import PracticeFilters
from quiz.tui.screens.mock import MockScreen
from quiz.tui.screens.practice import PracticeScreen
from tests.test_tui_support import (
    FakeClock,
    correct_keys,
    current_screen,
    make_app,
    make_history,
    question_view,
)

SnapCompare = Any


def markdown_laid_out(markdown: Markdown) -> bool:
    """Whether a Markdown widget shows something of its source: Textual parses it in a thread,
    which on a loaded machine can still be running when the Pilot's pause says the app is idle.
    (No Markdown in these pictures changes from one text to another: blocks are the text's.)"""
    return not markdown.source.strip() or bool(markdown.query(MarkdownBlock))


async def settle(pilot: Pilot) -> None:
    """Workers done, then every Markdown on the screen laid out (10 s at most), then a pause."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    for _ in range(200):
        if all(markdown_laid_out(m) for m in pilot.app.screen.query(Markdown)):
            break
        await pilot.pause(0.05)
    await pilot.pause()


async def open_choice_question(pilot: Pilot) -> None:
    await settle(pilot)
    backend = pilot.app.backend  # type: ignore[attr-defined]
    await pilot.app.push_screen(
        PracticeScreen(backend.pick_practice(PracticeFilters(kind="choice")))
    )
    await settle(pilot)


def test_home(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path), run_before=settle)


def test_question(snap_compare: SnapCompare, tmp_path: Path) -> None:
    assert snap_compare(make_app(tmp_path), run_before=open_choice_question)


def test_feedback(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def answer(pilot: Pilot) -> None:
        await open_choice_question(pilot)
        await pilot.press("b", "enter")
        for _ in range(200):  # the verdict's handler has mounted the feedback
            if getattr(pilot.app.focused, "id", None) == "next":
                break
            await pilot.pause(0.05)
        await settle(pilot)

    assert snap_compare(make_app(tmp_path), run_before=answer)


def test_mock_report(snap_compare: SnapCompare, tmp_path: Path) -> None:
    clock = FakeClock()

    async def sit_the_mock(pilot: Pilot) -> None:
        await settle(pilot)
        for _ in range(2):
            screen = current_screen(pilot.app, MockScreen)
            clock.advance(45)
            await pilot.press(*correct_keys((await question_view(pilot, screen)).instance))
            await pilot.press("ctrl+s")
            await settle(pilot)
        clock.advance(15 * 60)
        await screen.tick()
        await settle(pilot)
        await settle(pilot)
        pilot.app.clear_notifications()  # a toast's timeout would make the picture racy
        await pilot.pause()

    app = make_app(tmp_path, clock=clock, start=StartMock("L2", 15))
    assert snap_compare(app, run_before=sit_the_mock)


def test_progress(snap_compare: SnapCompare, tmp_path: Path) -> None:
    clock = FakeClock()

    async def with_history(pilot: Pilot) -> None:
        await settle(pilot)
        make_history(pilot.app.backend, clock)  # type: ignore[attr-defined]
        await pilot.press("g")
        await settle(pilot)

    app = make_app(tmp_path, clock=clock)
    assert snap_compare(app, run_before=with_history, terminal_size=(80, 40))


def test_browser(snap_compare: SnapCompare, tmp_path: Path) -> None:
    async def open_browser(pilot: Pilot) -> None:
        await settle(pilot)
        await pilot.press("b")
        await settle(pilot)
        await pilot.press("f", "down", "s")  # one flagged, one suspended
        await settle(pilot)

    assert snap_compare(make_app(tmp_path), run_before=open_browser)
